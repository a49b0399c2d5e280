"""Liveness and readiness probes."""

from __future__ import annotations

from flask import Blueprint
from flask.typing import ResponseReturnValue

from api.context import respond, service
from api.openapi import operation
from api.problems import ApiProblem
from api.schemas import Health
from cluster.service.views import Readiness

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@operation("get", "/healthz", "The process is up", "health",
           responses={200: ("Up", Health)})
def healthz() -> ResponseReturnValue:
    return respond(Health("ok"))


@bp.get("/readyz")
@operation("get", "/readyz", "Store reachable and index in sync with it", "health",
           responses={200: ("Ready: store reachable, index in sync", Readiness)})
def readyz() -> ResponseReturnValue:
    try:
        state = service().readiness()
    except Exception as exc:  # the probe reports, it does not crash
        raise ApiProblem(503, "Not ready", f"store unreachable: {type(exc).__name__}",
                         slug="not-ready") from None
    if not state.in_sync:
        raise ApiProblem(503, "Not ready",
                         f"index holds {state.indexed} vectors, store {state.articles}",
                         slug="not-ready")
    return respond(state)
