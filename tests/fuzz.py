"""A property-based fuzz run of the API against its own OpenAPI document
(schemathesis + Hypothesis), in process through WSGI: every operation gets
generated requests, valid and invalid; no answer may be a 5xx, and every
answer must match the document's schema for its status."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from flask import Flask


@dataclass
class FuzzReport:
    examples: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.examples.values())

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)


def fuzz(app: Flask, max_examples: int, seed: int = 0) -> FuzzReport:
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed
    from schemathesis.checks import not_a_server_error, response_schema_conformance
    from schemathesis.core.result import Ok

    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    report = FuzzReport()
    def exercise(case: Any) -> None:
        name = f"{case.operation.method.upper()} {case.operation.path}"
        response = case.call()
        report.examples[name] += 1
        report.statuses[response.status_code] += 1
        try:
            case.validate_response(
                response, checks=[not_a_server_error, response_schema_conformance])
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # a failed check (an exception group): record it
            report.failures.append(f"{name}: {type(exc).__name__}: {str(exc)[:300]}")

    for result in schema.get_all_operations():
        if not isinstance(result, Ok):
            report.failures.append(f"schema: {result.err()}")
            continue
        operation = result.ok()
        run = hypothesis_seed(seed)(settings(
            max_examples=max_examples, deadline=None, database=None,
            suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate],
        )(given(case=operation.as_strategy())(exercise)))
        run()
    return report
