"""Property-based fuzzing of every API operation against the generated OpenAPI
document, with a small budget (``python -m scripts.fuzz`` runs a larger one)."""

from __future__ import annotations

import logging

import pytest
from flask import Flask

from cluster.articles.importer import import_articles, read_files
from cluster.service.facade import StoryService
from tests.conftest import DEMO
from tests.fuzz import fuzz


def test_fuzzing_finds_no_server_error_and_no_schema_violation(
    service: StoryService, app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    import_articles(service, read_files([DEMO]))
    with caplog.at_level(logging.CRITICAL):
        report = fuzz(app, max_examples=25, seed=1)
    assert report.total >= 150 and len(report.examples) >= 10
    assert report.server_errors == 0, report.failures[:3]
    assert report.failures == []
    assert service.readiness().in_sync
