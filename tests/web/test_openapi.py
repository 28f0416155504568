"""The OpenAPI document is generated from the declared operations, validates as OpenAPI 3.1, takes its
server from configuration, and lists exactly the routes the app serves under ``/api/v1/``."""

from __future__ import annotations

import re

from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from tests.factories import make_tenant
from tsunagu.web import api
from tsunagu.web.errors import ERROR_CODES

#: The document itself is served under ``/api/v1/`` (without a token) but is not an operation of the API.
NOT_OPERATIONS = {("get", "/openapi.json")}


def _document(client, runtime) -> dict:
    make_tenant(runtime, "docs")
    response = client.get("/t/docs/api/v1/openapi.json", headers={"Host": "evil.example"})
    assert response.status_code == 200
    return response.get_json()


def test_the_document_validates_as_openapi_3_1(client, runtime):
    doc = _document(client, runtime)
    assert doc["openapi"] == "3.1.0"
    validate(doc)  # raises on any violation
    operation_ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(operation_ids) == len(set(operation_ids))


def test_an_invalid_document_is_caught_by_the_validator(client, runtime):
    doc = _document(client, runtime)
    doc["paths"]["/cases"]["get"]["responses"] = "nothing"
    try:
        validate(doc)
    except OpenAPIValidationError:
        return
    raise AssertionError("the validator accepted a broken document")


def test_servers_come_from_the_configured_public_url_not_the_host_header(client, runtime):
    doc = _document(client, runtime)
    assert doc["servers"] == [{"url": f"{runtime.settings.public_url}/t/docs/api/v1"}]


def test_the_app_url_map_and_the_document_list_the_same_operations_both_ways(app, client, runtime):
    doc = _document(client, runtime)
    documented = {(method, path) for path, item in doc["paths"].items() for method in item}
    with app.app_context():
        served = api.api_routes() - NOT_OPERATIONS
    assert served - documented == set(), "served but not in the document"
    assert documented - served == set(), "in the document but not served"
    assert len(served) >= 30


def test_every_operation_documents_its_errors_with_the_error_model(client, runtime):
    doc = _document(client, runtime)
    for path, item in doc["paths"].items():
        for method, op in item.items():
            responses = op["responses"]
            for status in ("401", "429"):
                assert status in responses, (method, path, status)
            for status, body in responses.items():
                if status.startswith(("4", "5")):
                    ref = body["content"]["application/json"]["schema"]["$ref"]
                    assert ref == "#/components/schemas/Error", (method, path, status)
            if "requestBody" in op or any(p["in"] == "query" for p in op.get("parameters", [])):
                assert "422" in responses, (method, path)


def test_the_error_codes_are_documented(client, runtime):
    doc = _document(client, runtime)
    for code in ERROR_CODES:
        assert f"`{code}`" in doc["info"]["description"]


def test_component_names_are_plain_and_unique_model_names(client, runtime):
    doc = _document(client, runtime)
    names = list(doc["components"]["schemas"])
    assert all(re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", n) for n in names), names
    assert {"Error", "NewCase", "CaseOut", "TaskDetail", "OrgUnitOut"} <= set(names)
    from pydantic import BaseModel

    seen: dict[str, type] = {}
    for cls in _all_subclasses(BaseModel):
        module = cls.__module__
        if module.startswith("tsunagu.") and cls.__name__ in names:
            assert seen.setdefault(cls.__name__, cls) is cls, f"two models named {cls.__name__}"


def _all_subclasses(cls: type) -> set[type]:
    out: set[type] = set()
    for sub in cls.__subclasses__():
        out |= {sub} | _all_subclasses(sub)
    return out
