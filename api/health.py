"""Liveness and readiness probes."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import asdict
from pathlib import Path
from typing import Any

from flask import Blueprint, current_app
from flask.typing import ResponseReturnValue

from api.context import respond, service
from api.observability import FORWARDED
from api.openapi import operation
from api.problems import ApiProblem
from api.schemas import Health
from cluster.service.views import Readiness

bp = Blueprint("health", __name__)
WRITER_PROBE_S = 2.0


@bp.get("/healthz")
@operation("get", "/healthz", "The process is up", "health",
           responses={200: ("Up", Health)})
def healthz() -> ResponseReturnValue:
    return respond(Health("ok"))


def _roles() -> dict[str, str]:
    """Each role's state, as the supervisor last wrote it, with the writer
    asked directly (it is ready once its model is loaded and its index is
    in sync with the store)."""
    status: Path | None = current_app.config.get("ROLES_STATUS")
    writer_url: str | None = current_app.config.get("WRITER_URL")
    if status is None:
        return {}
    try:
        listed: dict[str, Any] = json.loads(status.read_text())
    except (OSError, ValueError):
        listed = {}
    roles = {name: str(entry.get("state", "unknown")) for name, entry in listed.items()}
    if writer_url is not None and roles.get("writer", "ready") == "ready":
        probe = urllib.request.Request(f"{writer_url}/readyz", headers={FORWARDED: "1"})
        try:
            with urllib.request.urlopen(probe, timeout=WRITER_PROBE_S):
                roles["writer"] = "ready"
        except (urllib.error.URLError, OSError):
            roles["writer"] = "not ready"
    return roles


@bp.get("/readyz")
@operation("get", "/readyz", "Store reachable, model loaded, index in sync with the store, "
           "and every role running", "health",
           responses={200: ("Ready: store reachable, index in sync", Readiness)})
def readyz() -> ResponseReturnValue:
    try:
        state = service().readiness()
    except Exception as exc:  # the probe reports, it does not crash
        raise ApiProblem(503, "Not ready", f"store unreachable: {type(exc).__name__}",
                         slug="not-ready") from None
    roles = _roles()
    if roles and state.role == "reader":
        roles[f"this reader (pid {current_app.config.get('PID')})"] = (
            "ready" if state.in_sync else "catching up")
    waiting = sorted(name for name, value in roles.items() if value != "ready")
    if not state.in_sync:
        raise ApiProblem(503, "Not ready",
                         f"index holds {state.indexed} vectors, store {state.articles}",
                         slug="not-ready")
    if waiting:
        raise ApiProblem(503, "Not ready", "not ready: " + ", ".join(
            f"{name} ({roles[name]})" for name in waiting), slug="not-ready",
            errors=[{"field": name, "message": roles[name]} for name in waiting])
    body = asdict(state)
    if roles:
        body["roles"] = roles
    return respond(body)
