"""``/t/<tenant>/api/v1/openapi.json``: the API described for clients (OpenAPI 3.1)."""

from __future__ import annotations

from typing import Any

from flask import Response, g, jsonify, request

from ..core import limits
from .blueprints import tenant_bp

_ERROR = {"$ref": "#/components/schemas/Error"}
#: Schemas modules own and describe here (e.g. ``Referral`` from ``cases.referral``); the web toolkit knows
#: no feature, so they are registered from the modules' views.
_REGISTERED: dict[str, dict[str, Any]] = {}


def register_schema(name: str, schema: dict[str, Any]) -> None:
    """Publish ``schema`` (JSON Schema 2020-12, OpenAPI 3.1's dialect) as ``#/components/schemas/<name>``."""
    _REGISTERED[name] = {k: v for k, v in schema.items() if k not in ("$schema", "$id")}


_PATHS: dict[str, dict[str, Any]] = {}


def register_paths(paths: dict[str, dict[str, Any]]) -> None:
    """Publish a module's endpoints (``{"/meetings": {"get": {...}}}``), registered from its API module."""
    _PATHS.update(paths)


def _resp(description: str, schema: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"description": description}
    if schema is not None:
        body["content"] = {"application/json": {"schema": schema}}
    return body


def _errors(*codes: int) -> dict[str, Any]:
    names = {
        400: "Bad request",
        401: "No or invalid token",
        403: "Role not allowed",
        404: "Not found",
        409: "Conflict (already completed, claimed by another, concurrent change)",
        422: "Data does not fit",
    }
    return {str(c): _resp(names[c], _ERROR) for c in codes}


def document(server_url: str) -> dict[str, Any]:
    task = {"$ref": "#/components/schemas/Task"}
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "Tsunagu API",
            "version": "1.0.0",
            "description": "生活困窮者自立支援 casework API. Authenticate with `Authorization: Bearer <token>`.",
        },
        "servers": [{"url": server_url}],
        "security": [{"bearer": []}],
        "paths": {
            "/cases": {
                "post": {
                    "summary": "相談受付: open a case and start the casework process",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NewCase"}}},
                    },
                    "responses": {
                        "201": _resp(
                            "Created",
                            {
                                "type": "object",
                                "properties": {
                                    "id": {"type": "string", "format": "uuid"},
                                    "process_instance_id": {"type": "string", "format": "uuid"},
                                    "stage": {"type": "string"},
                                },
                            },
                        ),
                        **_errors(401, 403, 422),
                    },
                }
            },
            "/cases/{id}": {
                "get": {
                    "summary": "A case with its stage, status, process version and history",
                    "parameters": [{"$ref": "#/components/parameters/id"}],
                    "responses": {
                        "200": _resp("The case", {"$ref": "#/components/schemas/Case"}),
                        **_errors(401, 403, 404),
                    },
                }
            },
            "/cases/{id}/messages": {
                "post": {
                    "summary": "Deliver a BPMN message (meeting_decided, consent_withdrawn, referral_received)",
                    "parameters": [{"$ref": "#/components/parameters/id"}],
                    "responses": {"200": _resp("Delivered"), **_errors(401, 403, 404, 409, 422)},
                }
            },
            "/tasks": {
                "get": {
                    "summary": "Inbox",
                    "parameters": [
                        {
                            "name": "scope",
                            "in": "query",
                            "schema": {"enum": ["mine", "role", "all"], "default": "mine"},
                        },
                        {
                            "name": "state",
                            "in": "query",
                            "schema": {"enum": ["ready", "completed", "cancelled"], "default": "ready"},
                        },
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 500}},
                        {"name": "offset", "in": "query", "schema": {"type": "integer"}},
                    ],
                    "responses": {
                        "200": _resp("Tasks", {"type": "array", "items": task}),
                        **_errors(401, 403, 422),
                    },
                }
            },
            "/tasks/{id}": {
                "get": {
                    "summary": "A task with its form schema (form-js JSON)",
                    "parameters": [{"$ref": "#/components/parameters/id"}],
                    "responses": {"200": _resp("The task", task), **_errors(401, 403, 404)},
                }
            },
            "/tasks/{id}/claim": {
                "post": {
                    "summary": "Claim a task",
                    "parameters": [{"$ref": "#/components/parameters/id"}],
                    "responses": {"200": _resp("Claimed", task), **_errors(401, 403, 404, 409)},
                }
            },
            "/tasks/{id}/complete": {
                "post": {
                    "summary": "Complete a task with form data",
                    "parameters": [{"$ref": "#/components/parameters/id"}],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"type": "object", "properties": {"data": {"type": "object"}}}
                            }
                        },
                    },
                    "responses": {"200": _resp("Completed", task), **_errors(401, 403, 404, 409, 422)},
                }
            },
            "/definitions": {
                "get": {
                    "summary": "Deployed definition versions",
                    "responses": {"200": _resp("Deployments"), **_errors(401, 403)},
                },
                "post": {
                    "summary": "Deploy a new version (tenant_admin): multipart field `files` with .bpmn/.dmn/.form",
                    "requestBody": {
                        "content": {
                            "multipart/form-data": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "files": {
                                            "type": "array",
                                            "items": {"type": "string", "format": "binary"},
                                        },
                                        "note": {"type": "string"},
                                    },
                                }
                            }
                        }
                    },
                    "responses": {"201": _resp("Deployed"), **_errors(401, 403, 422)},
                },
            },
            "/org-units": {
                "get": {"summary": "Org units", "responses": {"200": _resp("Org units"), **_errors(401, 403)}}
            },
            "/users": {
                "get": {
                    "summary": "Users and their memberships (tenant administrators)",
                    "responses": {"200": _resp("Users"), **_errors(401, 403)},
                }
            },
            "/users/{id}": {
                "get": {
                    "summary": "A user and their memberships (org unit × roles pairs)",
                    "parameters": [{"$ref": "#/components/parameters/id"}],
                    "responses": {"200": _resp("User"), **_errors(401, 403, 404)},
                }
            },
            "/users/{id}/memberships": {
                "put": {
                    "summary": "Replace a user's memberships: [{org_unit: code or null, roles: [...]}]; "
                    "without an org unit only tenant_admin and auditor",
                    "parameters": [{"$ref": "#/components/parameters/id"}],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Memberships"}}
                        },
                    },
                    "responses": {"200": _resp("User"), **_errors(401, 403, 404, 422)},
                }
            },
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "parameters": {
                "id": {
                    "name": "id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "format": "uuid"},
                }
            },
            "schemas": {
                "Memberships": {
                    "type": "object",
                    "required": ["memberships"],
                    "properties": {
                        "memberships": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["roles"],
                                "properties": {
                                    "org_unit": {"type": ["string", "null"]},
                                    "roles": {"type": "array", "items": {"type": "string"}},
                                },
                            },
                        }
                    },
                },
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["code", "message"],
                            "properties": {
                                "code": {"type": "string"},
                                "message": {"type": "string"},
                                "details": {"type": "object"},
                            },
                        }
                    },
                },
                "NewCase": {
                    "type": "object",
                    "required": ["person"],
                    "properties": {
                        "person": {
                            "type": "object",
                            "required": ["name", "name_kana"],
                            "properties": {
                                "name": {"type": "string", "maxLength": limits.PERSON_NAME_MAX},
                                "name_kana": {"type": "string", "maxLength": limits.PERSON_KANA_MAX},
                                "birth_date": {"type": "string", "format": "date"},
                            },
                        },
                        "org_unit": {
                            "type": "string",
                            "maxLength": limits.ORG_UNIT_CODE_MAX,
                            "description": "org unit code",
                        },
                        "referral": (
                            {"$ref": "#/components/schemas/Referral"}
                            if "Referral" in _REGISTERED
                            else {"type": "object", "description": "referral from another agency (つなぎ)"}
                        ),
                    },
                },
                "Case": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string"},
                        "stage": {"type": "string"},
                        "status": {"type": "string"},
                        "process_version": {"type": ["integer", "null"]},
                        "history": {"type": "array", "items": {"type": "object"}},
                    },
                },
                **_REGISTERED,
                "Task": {
                    "type": "object",
                    "properties": {
                        k: {"type": ["string", "null"]}
                        for k in ("id", "name", "title", "case_id", "lane", "assignee", "due_at", "form")
                    },
                },
            },
        },
    }
    doc["paths"].update(_PATHS)
    return doc


@tenant_bp.get("/api/v1/openapi.json")
def openapi_json() -> Response:
    return jsonify(document(request.host_url.rstrip("/") + f"/t/{g.tenant.slug}/api/v1"))
