"""Declaring a JSON API endpoint: request and response models in code, validated and published at once.

Every route under ``/t/<tenant>/api/v1/`` is declared with :func:`operation` (spectree over pydantic v2):

.. code-block:: python

    class NewThing(ApiModel):
        name: str = Field(min_length=1, max_length=200)

    @api_bp.post("/things")
    @require_permission("thing.create")            # roles first: a caller without them gets 403, not 422
    @operation(json=NewThing, resp={201: Thing}, errors=(403, 409), tags=["things"])
    def create_thing(json: NewThing) -> Any:       # spectree hands the validated model in as ``json``
        ...
        return Thing(...).model_dump(mode="json"), 201

* ``query=`` / ``json=`` models are validated before the view runs; a mismatch is 422 ``validation_failed``
  with one ``details`` entry per field (``person.name``), worded in the request's language (:data:`_JA`).
* ``resp=`` maps statuses to response models; the response is checked against them (a mismatch is a bug,
  found by the tests and by Schemathesis). ``errors=`` names the error statuses the operation can answer
  besides the ones every operation has (401, 429, and 422 when it takes input); each is the ``Error`` model.
* ``GET /t/<slug>/api/v1/openapi.json`` is generated from these declarations (:func:`document`), OpenAPI 3.1,
  with ``servers`` from ``TSUNAGU_PUBLIC_URL``; ``tests/web/test_openapi.py`` checks that it validates and
  that it lists exactly the app's routes under ``/api/v1/``.
"""

from __future__ import annotations

import copy
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from flask import current_app
from pydantic import BaseModel, ConfigDict, Field
from spectree import Response as SpecResponse
from spectree import SecurityScheme, SpecTree
from spectree.models import SecureType, SecuritySchemeData

from ..core.errors import ValidationFailed
from . import errors

F = TypeVar("F", bound=Callable[..., Any])

API_PREFIX = "/t/{tenant}/api/v1"


class ApiModel(BaseModel):
    """Base of request and response models: unknown request fields are refused, not ignored."""

    model_config = ConfigDict(extra="forbid")


class ErrorDetail(BaseModel):
    """One thing wrong: a field of the request, or a place in an uploaded file, or a fact about the error."""

    model_config = ConfigDict(extra="allow")
    field: str | None = Field(None, description="the request field, dotted (`person.name`)")
    file: str | None = Field(None, description="the uploaded file")
    line: int | None = Field(None, description="the line in that file")
    element: str | None = Field(None, description="the BPMN/DMN/form element id")
    code: str | None = None
    message: str | None = None


class ErrorInfo(BaseModel):
    code: str = Field(description="stable error code; see the API description for the list")
    message: str = Field(description="in the request's Accept-Language: Japanese (default) or English")
    details: list[ErrorDetail]


class Error(BaseModel):
    """Every error under ``/api/``."""

    error: ErrorInfo


#: Japanese wording of pydantic's error types (English is pydantic's own message).
_JA: dict[str, str] = {
    "missing": "必須項目です",
    "extra_forbidden": "この項目は使えません",
    "string_type": "文字列を入力してください",
    "string_too_short": "{min_length}文字以上で入力してください",
    "string_too_long": "{max_length}文字以内で入力してください",
    "string_pattern_mismatch": "形式が正しくありません",
    "int_type": "整数で指定してください",
    "int_parsing": "整数で指定してください",
    "bool_type": "true か false で指定してください",
    "bool_parsing": "true か false で指定してください",
    "greater_than_equal": "{ge}以上で指定してください",
    "less_than_equal": "{le}以下で指定してください",
    "greater_than": "{gt}より大きい値で指定してください",
    "less_than": "{lt}より小さい値で指定してください",
    "literal_error": "次のいずれかで指定してください: {expected}",
    "enum": "次のいずれかで指定してください: {expected}",
    "dict_type": "オブジェクトで指定してください",
    "model_type": "オブジェクトで指定してください",
    "model_attributes_type": "オブジェクトで指定してください",
    "list_type": "配列で指定してください",
    "too_long": "{max_length}件以内で指定してください",
    "too_short": "{min_length}件以上で指定してください",
    "uuid_type": "UUID で指定してください",
    "uuid_parsing": "UUID で指定してください",
    "date_type": "日付の形式が正しくありません（YYYY-MM-DD）",
    "date_parsing": "日付の形式が正しくありません（YYYY-MM-DD）",
    "date_from_datetime_parsing": "日付の形式が正しくありません（YYYY-MM-DD）",
    "datetime_parsing": "日時の形式が正しくありません（ISO 8601）",
    "datetime_type": "日時の形式が正しくありません（ISO 8601）",
    "json_invalid": "JSON として読めません",
    "value_error": "値が正しくありません",
}


def _field_name(loc: Iterable[Any]) -> str:
    return ".".join(str(part) for part in loc) or "body"


def _pydantic_details(exc: Any) -> dict[str, list[str]]:
    lang = errors.request_language()
    out: dict[str, list[str]] = {}
    for err in exc.errors(include_url=False):
        ctx = {k: v for k, v in (err.get("ctx") or {}).items()}
        if lang == "en":
            message = str(err.get("msg", "invalid"))
        else:
            template = _JA.get(str(err.get("type")), "値が正しくありません")
            try:
                message = template.format(**ctx)
            except (KeyError, IndexError):
                message = "値が正しくありません"
        out.setdefault(_field_name(err.get("loc", ())), []).append(message)
    return out


def _before(_req: Any, _resp: Any, req_validation_error: Exception | None, _instance: Any, *_: Any) -> None:
    """Spectree's hook after validating the request: refuse in the API's own error language."""
    if req_validation_error is not None:
        raise ValidationFailed(
            "入力内容に誤りがあります / the input is invalid", details=_pydantic_details(req_validation_error)
        )


spec = SpecTree(
    "flask",
    mode="strict",  # only the routes declared with ``operation`` (the pages are not the API)
    title="Tsunagu API",
    version="1.0.0",
    description="",  # filled in by ``document``
    before=_before,
    validation_error_model=Error,
    # Component names are the models' own (``Case``, not ``Case.d093b95``): they are the API's vocabulary, so
    # every model class under the API has a unique name (``tests/web/test_openapi.py`` checks it).
    naming_strategy=lambda model: model.__name__,
    nested_naming_strategy=lambda _parent, child: child,
    security_schemes=[
        SecurityScheme(
            name="bearer",
            data=SecuritySchemeData(
                type=SecureType.HTTP, scheme="bearer", description="an API token: `tsu_…`"
            ),
        )
    ],
    security={"bearer": []},
)

#: Status → description of the error responses an operation may declare.
_ERROR_STATUSES = {
    400: "Malformed request (bad JSON, bad header)",
    401: "No bearer token, or an invalid, revoked or foreign one",
    403: "The caller may see the object but not do this",
    404: "No such object, or one the caller may not know of",
    409: "Conflict: completed or claimed by someone else, a concurrent change, or an Idempotency-Key in use",
    412: "If-Match names a version that is no longer current",
    413: "The body is larger than the limit",
    415: "The body is not application/json",
    422: "The input is invalid (one detail per field)",
    429: "Too many requests (see Retry-After)",
}


def operation(
    *,
    query: type[BaseModel] | None = None,
    json: type[BaseModel] | None = None,
    resp: Mapping[int, Any] | None = None,
    errors: Iterable[int] = (),
    tags: Iterable[str] = (),
    request_body: dict[str, Any] | None = None,
    headers: Iterable[str] = (),
) -> Callable[[F], F]:
    """Declare an API operation (see the module's docstring). ``resp`` values are models, ``list[Model]``
    or ``None`` (no body). ``request_body``: an OpenAPI request body for what no model describes (a
    multipart upload). ``headers``: request headers the operation reads (``If-Match``, ``Idempotency-Key``).
    The operation id is the view function's name."""
    codes: dict[str, Any] = {}
    for status, model in (resp or {200: None}).items():
        codes[f"HTTP_{status}"] = model
    wanted = {401, 429, *errors}
    if query is not None or json is not None:
        wanted.add(422)
    if json is not None:
        wanted.update((400, 413, 415))
    for status in sorted(wanted):
        codes.setdefault(f"HTTP_{status}", (Error, _ERROR_STATUSES[status]))

    def decorator(view: F) -> F:
        extra: dict[str, Any] = {}
        if request_body is not None:
            extra["requestBody"] = request_body
        if headers:
            extra["parameters"] = [dict(_HEADERS[h]) for h in headers]
        if extra:
            _EXTRA[view.__name__] = extra
        validated: F = spec.validate(
            query=query, json=json, resp=SpecResponse(**codes), tags=list(tags), operation_id=view.__name__
        )(view)
        return validated

    return decorator


#: Schemas published as they are (JSON Schema 2020-12, OpenAPI 3.1's dialect), e.g. ``Referral``.
_COMPONENTS: dict[str, dict[str, Any]] = {}


def register_component(name: str, schema: dict[str, Any]) -> dict[str, str]:
    """Publish ``schema`` as ``#/components/schemas/<name>``; returns the ``$ref`` to use in a model
    (``Annotated[dict[str, Any] | None, WithJsonSchema(register_component("Referral", SCHEMA))]``); the
    request is validated by the module itself (e.g. with ``jsonschema``)."""
    _COMPONENTS[name] = {k: v for k, v in schema.items() if k not in ("$schema", "$id")}
    # pydantic resolves a ``$ref`` among its own definitions, so the model carries a marker that
    # ``document`` turns into the reference.
    return {_MARKER: name}


_MARKER = "x-tsunagu-component"


def _link_components(node: Any) -> Any:
    if isinstance(node, dict):
        if set(node) == {_MARKER}:
            return {"$ref": f"#/components/schemas/{node[_MARKER]}"}
        return {k: _link_components(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_link_components(v) for v in node]
    return node


#: OpenAPI parts merged into an operation by its id (what spectree does not describe).
_EXTRA: dict[str, dict[str, Any]] = {}

_HEADERS: dict[str, dict[str, Any]] = {
    "If-Match": {
        "name": "If-Match",
        "in": "header",
        "required": False,
        "description": "the ETag read before; a stale one is refused with 412",
        "schema": {"type": "string", "maxLength": 200},
    },
    "Idempotency-Key": {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "description": "1–200 characters; the request is carried out once per key, retries replay the answer",
        "schema": {"type": "string", "minLength": 1, "maxLength": 200},
    },
}


_lock = threading.Lock()
_generated: dict[str, Any] | None = None


def _generate() -> dict[str, Any]:
    """The app-wide document, generated once per process from the declared routes (they do not change)."""
    global _generated
    with _lock:
        if _generated is None:
            _generated = spec._generate_spec()
        return copy.deepcopy(_generated)


def document(server_url: str, *, description: str = "") -> dict[str, Any]:
    """The OpenAPI 3.1 document of one tenant's API: paths relative to ``server_url``."""
    raw = _generate()
    paths: dict[str, Any] = {}
    for path, item in raw["paths"].items():
        if not path.startswith(API_PREFIX + "/"):
            continue
        for op in item.values():
            extra = _EXTRA.get(op.get("operationId", ""), {})
            op["parameters"] = [p for p in op.get("parameters", []) if p.get("name") != "tenant"]
            op["parameters"] += copy.deepcopy(extra.get("parameters", []))
            if "requestBody" in extra:
                op["requestBody"] = copy.deepcopy(extra["requestBody"])
            if not op["parameters"]:
                op.pop("parameters")
            if not op.get("tags"):
                op.pop("tags", None)
        paths[path[len(API_PREFIX) :]] = item
    raw["paths"] = dict(sorted(paths.items()))
    raw["components"]["schemas"].update(copy.deepcopy(_COMPONENTS))
    raw = _link_components(raw)
    raw["servers"] = [{"url": server_url}]
    raw["info"]["description"] = description
    raw["tags"] = sorted(raw.get("tags", []), key=lambda t: t["name"])
    return raw


def api_routes() -> set[tuple[str, str]]:
    """``(method, path)`` of every route the app serves under ``/t/<tenant>/api/v1/`` (OpenAPI path form)."""
    out: set[tuple[str, str]] = set()
    for rule in current_app.url_map.iter_rules():
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        if not path.startswith(API_PREFIX + "/"):
            continue
        for method in rule.methods or ():
            if method not in ("HEAD", "OPTIONS"):
                out.add((method.lower(), path[len(API_PREFIX) :]))
    return out
