"""Schemathesis against the live front door: every operation of /openapi.json, called through
Envoy's REST+JSON transcoder with a signed-up viewer's token (admin routes with the demo admin's),
must answer without a 5xx and as the document says (status code, content type, body schema)."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import hypothesis
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis import checks

from gateway.openapi import ACCESS_ADMIN, access_classes, build_document
from mesh.launcher import LocalMesh
from tests.fuzz.conftest import Viewer
from tests.fuzz.report import report

MAX_EXAMPLES = 25
"""Examples per operation: 58 operations x 40 took 25-40 s on the idle 2-core machine and 80 s
with other suites running beside it; 25 keeps a margin inside the 90 s budget."""
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


@dataclass
class Outcome:
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0


def fuzz_rest(
    base_url: str,
    document: dict,
    headers_for: Callable[[str], dict[str, str]],
    max_examples: int = MAX_EXAMPLES,
) -> dict[str, Outcome]:
    """Calls every operation of `document` `max_examples` times; returns what each answered."""
    schema = schemathesis.openapi.from_dict(document)
    outcomes: dict[str, Outcome] = defaultdict(Outcome)
    for result in schema.get_all_operations():
        operation = result.ok()
        op_id = operation.definition.raw["operationId"]
        run = _runner(operation, base_url, headers_for(op_id), outcomes[op_id], max_examples)
        started = time.monotonic()
        run()
        outcomes[op_id].seconds += time.monotonic() - started
    return dict(outcomes)


def _runner(
    operation: schemathesis.APIOperation,
    base_url: str,
    headers: dict[str, str],
    outcome: Outcome,
    max_examples: int,
) -> Callable[[], None]:
    @hypothesis.settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @hypothesis.given(case=operation.as_strategy())
    def run(case: schemathesis.Case) -> None:
        response = case.call(base_url=base_url, headers=headers, timeout=15)
        outcome.statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS)
        except (AssertionError, BaseExceptionGroup) as failure:  # every failed check
            if len(outcome.failures) < 3:
                outcome.failures.append(f"{case.as_curl_command(headers)}\n{failure}")

    return run


def test_every_operation_answers_as_documented_without_5xx(
    mesh: LocalMesh, viewer: Viewer, admin_headers: dict[str, str]
) -> None:
    started = time.monotonic()
    classes = access_classes()

    def headers_for(op_id: str) -> dict[str, str]:
        return admin_headers if classes.get(op_id) == ACCESS_ADMIN else viewer.headers

    base_url = mesh.settings.gateway_url
    with httpx.Client(base_url=base_url, timeout=15) as http:
        served = http.get("/openapi.json")
    assert served.status_code == 200, served.text
    document = served.json()
    assert document == build_document()
    outcomes = fuzz_rest(base_url, document, headers_for)
    elapsed = time.monotonic() - started
    failures = report("schemathesis", outcomes, elapsed, lambda o: o.statuses)
    assert failures == {}
    assert all(sum(o.statuses.values()) >= 1 for o in outcomes.values())
    assert len(outcomes) == len(classes)
