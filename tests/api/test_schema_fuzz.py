"""Schemathesis over the API's own OpenAPI schema, against the real server: never a 500."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.api.conftest import Api


def test_no_request_makes_the_server_fail(api: Api) -> None:
    schema = schemathesis.openapi.from_url(f"{api.url}/openapi.json")
    token = api.client(api.world.alice).headers["Authorization"]
    checked = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def never_fails(case: Any) -> None:
            response = case.call(base_url=api.url, headers={"Authorization": token})
            assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text}"

        never_fails()
        checked.append(operation.label)
    assert "POST /{resource_type}" in checked
    assert "GET /{resource_type}" in checked
