"""Schemathesis against the served OpenAPI spec: generated requests (few examples each), never a 5xx.

Errors must also use the documented JSON shape. Bounded: a handful of examples per operation, so
it runs in seconds. (Schemathesis' pytest plugin is not used: ``from_fixture`` breaks on pytest 9.)
"""

from __future__ import annotations

import os

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

EXAMPLES = int(os.environ.get("AFFECTLENS_SCHEMA_EXAMPLES", 10))  # more for a deeper, slower search


def test_generated_requests_never_get_a_5xx(server):
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 14
    seen: dict[str, set[int]] = {}

    for op in operations:
        _exercise(op, server.url, seen)
    assert len(seen) == len(operations)
    print({k: sorted(v) for k, v in seen.items()})


def _exercise(op, base_url: str, seen: dict[str, set[int]]) -> None:
    @given(case=op.as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    def check(case):
        response = case.call_and_validate(base_url=base_url, checks=[not_a_server_error], timeout=60)
        seen.setdefault(op.label, set()).add(response.status_code)
        if response.status_code >= 400 and response.status_code != 405:
            error = response.json()["error"]
            assert error["status"] == response.status_code and error["message"]

    check()
