"""Property-based requests from the OpenAPI schema: no input may make the server fail (5xx).

Schemathesis generates requests for every operation (20 each, authenticated as the county
civil-affairs officer, with a purpose) and sends them to the live server. Its pytest plugin
does not work with this pytest version (lazy schemas), so the operations are driven here
with Hypothesis directly.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from childlink.identity.service import issue_api_token
from childlink.store.engine import unit_of_work

from .conftest import County

EXAMPLES_PER_OPERATION = 20


def test_no_server_errors(county: County) -> None:
    with unit_of_work(county.factory) as session:
        _row, token = issue_api_token(session, "civil", name="schemathesis")
    headers = {"Authorization": f"Bearer {token}", "X-Purpose": "case_work"}
    schema = schemathesis.openapi.from_url(f"{county.url}/api/v1/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10
    exercised = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def run(case: Any) -> None:
            case.call_and_validate(
                base_url=county.url, headers=headers, checks=[not_a_server_error]
            )

        run()
        exercised.append(operation.label)
    assert "GET /api/v1/children/{child_id}" in exercised
