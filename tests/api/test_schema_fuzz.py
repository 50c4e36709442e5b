"""Schemathesis over the API's own OpenAPI schema, against the real server, signed in and not: never a 500.

One world and one server for the module, shared by both passes. The schema's path
parameters are free strings, so a generated `resource_type` would only ever be an unknown
type (404) and a `record_id` an unknown id: half the time they are replaced by a type the
CapabilityStatement lists or an id of the world's records, so the requests reach the routes
behind them. The exchange routes (and another node's EPCIS verification request) read their
own bodies, which the schema leaves out, so a test of their own posts them damaged bodies. CI
gives the whole module (on one xdist worker of two cores) three minutes; it takes ~40 s alone
and ~45 s beside another module.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from eth_account import Account
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from careledger.crypto import sign_typed_data
from careledger.exchange import AccountingRequest, FetchRequest, SignedAccounting
from careledger.research import RELEASE, StudyRequest
from careledger.supplychain import Pack, VerificationRequest
from tests.access.conftest import built_world
from tests.api.conftest import Api, serving
from tests.exchange.hostile import from_outside

EXAMPLES = 50  # per operation and pass
# An event stream never ends: schemathesis reads it until the timeout, so each example costs that long; its
# two headers need few examples, and a 500 would come at once.
STREAMS = {"GET /alerts/stream", "GET /telehealth/events"}
STREAM_EXAMPLES = 10
STREAM_SECONDS = 2.0
REQUEST_SECONDS = 30.0  # any other request: generous, for a loaded CI machine
# The routes that read their own bodies are open, and open requests from one address share a burst of 120 (then 4 a
# second): 30 a route stays inside it, after the passes above.
BODY_EXAMPLES = 30


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with built_world(Path(tmp_path_factory.mktemp("fuzz")) / "home") as world, serving(world) as api:
        yield api


def _known_paths(api: Api) -> list[dict[str, str]]:
    """Path parameters the server knows: each type the CapabilityStatement lists, each record of the world."""
    statement = httpx.get(f"{api.url}/metadata").json()
    types = [{"resource_type": resource["type"]} for resource in statement["rest"][0]["resource"]]
    records = api.world.node._records.list()
    return types + [{"resource_type": r.resource_type, "record_id": r.record_id} for r in records]


def _cases(operation: Any, known: list[dict[str, str]]) -> st.SearchStrategy[Any]:
    """The operation's generated requests, half of them with path parameters the server knows."""
    generated: st.SearchStrategy[Any] = operation.as_strategy()
    names = set(re.findall(r"{(\w+)}", operation.path))
    fitting = {tuple((k, v) for k, v in values.items() if k in names) for values in known} - {()}
    if not fitting:
        return generated
    most = max(len(values) for values in fitting)  # a record's type and id together, not a type and a random id
    fitting = {values for values in fitting if len(values) == most}

    def swapped(drawn: tuple[Any, tuple[tuple[str, str], ...] | None]) -> Any:
        case, values = drawn
        case.path_parameters.update(values or ())
        return case

    return st.tuples(generated, st.none() | st.sampled_from(sorted(fitting))).map(swapped)


@pytest.mark.parametrize("signed_in", [True, False], ids=["signed-in", "anonymous"])
def test_no_request_makes_the_server_fail(served: Api, signed_in: bool) -> None:
    schema = schemathesis.openapi.from_url(f"{served.url}/openapi.json")
    headers = {"Authorization": served.client(served.world.alice).headers["Authorization"]} if signed_in else {}
    known = _known_paths(served)
    checked, failures = [], []
    for result in schema.get_all_operations():
        operation = result.ok()
        stream = operation.label in STREAMS

        @given(case=_cases(operation, known))
        @settings(
            max_examples=STREAM_EXAMPLES if stream else EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def never_fails(case: Any) -> None:
            # A signed-in stream stays open, and is cut at STREAM_SECONDS; an anonymous one is refused at once,
            # which a loaded CI machine may take longer than that to say.
            timeout = STREAM_SECONDS if case.operation.label in STREAMS and signed_in else REQUEST_SECONDS
            response = case.call(base_url=served.url, headers=headers, timeout=timeout)
            assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text}"

        try:
            never_fails()
        except Exception as exc:  # every operation is tried, so one run names every 500
            failures.append(f"{operation.label}: {exc}")
        checked.append(operation.label)
    assert not failures, "\n\n".join(failures)
    assert {"POST /{resource_type}", "GET /{resource_type}/{record_id}", "POST /auth/login"} | STREAMS <= set(checked)


def _signed_bodies(api: Api) -> dict[str, Any]:
    """A good signed body for each route that reads its own, of which the schema says nothing (so schemathesis sends
    none): damaged, they reach the parsers and what answers behind them."""
    node, alice, wallet = api.world.node, api.world.alice, Account.create()
    chain_id, registry = node.chain_id, node.contracts.identity_registry().address
    accounting = AccountingRequest.new(alice.address, node.address)
    signature = sign_typed_data(wallet, accounting.typed_data(chain_id, registry))
    return {
        "/exchange/fetch": FetchRequest.new(wallet.address, node.address, alice.address, 1, 1)
        .sign(wallet, chain_id, registry)
        .to_json(),
        "/exchange/accounting": SignedAccounting(accounting, signature).to_json(),
        "/exchange/study": StudyRequest.new(1, node.address, RELEASE).signed(wallet, chain_id, registry).to_json(),
        "/epcis/verification": VerificationRequest.new(wallet.address, node.address, Pack("00614141123452", "S1"))
        .sign(wallet, chain_id, node.contracts.supply_chain().address)
        .to_json(),
    }


@pytest.mark.parametrize("path", ["/exchange/fetch", "/exchange/accounting", "/exchange/study", "/epcis/verification"])
def test_no_body_makes_a_route_that_reads_its_own_fail(served: Api, path: str) -> None:
    good = _signed_bodies(served)[path]

    @given(body=from_outside(good))
    @settings(max_examples=BODY_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def never_fails(body: Any) -> None:
        content = json.dumps(body)  # NaN and Infinity too, which Python's JSON reads back
        response = httpx.post(f"{served.url}{path}", content=content, headers={"Content-Type": "application/json"})
        assert response.status_code < 500, f"POST {path} {content[:300]}: {response.text}"

    never_fails()
