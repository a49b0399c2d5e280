"""The OpenAPI 3.1 document, generated from the code: each view declares its
request and response types with ``@operation``, and pydantic supplies the
JSON schemas. Served at ``/api/v1/openapi.json``; Swagger UI (bundled by
flask-swagger-ui, nothing from a CDN) at ``/api/docs``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import Blueprint, Flask, jsonify
from flask.typing import ResponseReturnValue
from pydantic import TypeAdapter

from api.problems import PROBLEM_JSON

View = TypeVar("View", bound=Callable[..., ResponseReturnValue])
REF = "#/components/schemas/{model}"


@dataclass(frozen=True)
class Param:
    name: str
    where: str  # "path" or "query"
    schema: dict[str, Any]
    description: str
    required: bool = False


@dataclass
class Operation:
    method: str
    path: str
    summary: str
    tag: str
    request: Any = None
    responses: dict[int, tuple[str, Any]] = field(default_factory=dict)
    params: tuple[Param, ...] = ()


OPERATIONS: list[Operation] = []


def operation(
    method: str, path: str, summary: str, tag: str, *, request: Any = None,
    responses: dict[int, tuple[str, Any]] | None = None, params: tuple[Param, ...] = (),
) -> Callable[[View], View]:
    """Declare a view's contract for the OpenAPI document."""

    def register(view: View) -> View:
        OPERATIONS.append(Operation(method, path, summary, tag, request, responses or {}, params))
        return view

    return register


PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "detail", "instance"],
    "properties": {
        "type": {"type": "string"}, "title": {"type": "string"},
        "status": {"type": "integer"}, "detail": {"type": "string"},
        "instance": {"type": "string"}, "field": {"type": "string"},
        "errors": {"type": "array", "items": {
            "type": "object", "required": ["field", "message"],
            "properties": {"field": {"type": "string"}, "message": {"type": "string"}}}},
    },
}


def _schema(kind: Any, components: dict[str, Any]) -> dict[str, Any]:
    schema = TypeAdapter(kind).json_schema(ref_template=REF, mode="serialization")
    components.update(schema.pop("$defs", {}))
    return schema


def build_document(title: str, version: str) -> dict[str, Any]:
    components: dict[str, Any] = {"Problem": PROBLEM_SCHEMA}
    paths: dict[str, Any] = {}
    for op in OPERATIONS:
        entry: dict[str, Any] = {"summary": op.summary, "tags": [op.tag],
                                 "operationId": f"{op.method}_{op.path}".replace("/", "_")
                                 .replace("{", "").replace("}", "").strip("_"),
                                 "responses": {}}
        if op.params:
            entry["parameters"] = [
                {"name": p.name, "in": p.where, "required": p.required or p.where == "path",
                 "schema": p.schema, "description": p.description} for p in op.params
            ]
        if op.request is not None:
            schema = TypeAdapter(op.request).json_schema(ref_template=REF, mode="validation")
            components.update(schema.pop("$defs", {}))
            entry["requestBody"] = {"required": True,
                                    "content": {"application/json": {"schema": schema}}}
        for status, (description, kind) in sorted(op.responses.items()):
            response: dict[str, Any] = {"description": description}
            if kind is not None:
                response["content"] = {"application/json": {"schema": _schema(kind, components)}}
            entry["responses"][str(status)] = response
        for status, description in ((400, "Malformed request"), (404, "Unknown id"),
                                    (413, "Too large"), (415, "Not JSON"),
                                    (422, "Invalid field"), (500, "Internal error"),
                                    (503, "Not ready")):
            entry["responses"].setdefault(str(status), {
                "description": description,
                "content": {PROBLEM_JSON: {"schema": {"$ref": REF.format(model="Problem")}}},
            })
        paths.setdefault(op.path, {})[op.method] = entry
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version,
                 "description": "Groups news articles from many sources into stories and "
                                "answers what else covers an article."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {"schemas": components},
    }


bp = Blueprint("openapi", __name__)


@bp.get("/api/v1/openapi.json")
def openapi_document() -> ResponseReturnValue:
    return jsonify(build_document("News story clustering service", "1.0.0"))


def init_app(app: Flask) -> None:
    from flask_swagger_ui import get_swaggerui_blueprint

    app.register_blueprint(bp)
    app.register_blueprint(get_swaggerui_blueprint(
        "/api/docs", "/api/v1/openapi.json", config={"app_name": "News stories API"}))
