"""Consent, exchange and revoke between three nodes on hosts of their own, 40 ms apart.

Alice is a patient at node A. She grants node B consent (her wallet signs it); B fetches her labs from A
across the slow link; C, without her consent, is refused; she revokes; B is refused. Every
step is a `careledger` command run in that node's namespace, against the servers in theirs.
"""

from __future__ import annotations

import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from careledger.config import NODE_WALLET
from careledger.consent import Purpose
from careledger.exchange import FetchRequest
from careledger.records import Category
from tests.network.conftest import DELAY_MS, PORT, Network, Site

pytestmark = pytest.mark.anvil

# The refusal's exit code (docs/cli.md): AccessDenied.
DENIED = 5

# Posts one signed request and says how long the answer took, from the asking host.
_ROUND_TRIP = """
import json, sys, time, httpx
with httpx.Client(timeout=30) as client:
    started = time.perf_counter()
    response = client.post(sys.argv[1], content=sys.argv[2], headers={"content-type": "application/json"})
    print(json.dumps({"status": response.status_code, "seconds": time.perf_counter() - started,
                      "body": response.json()}))
"""


def _fetch(requester: Site, custodian: Site, network: Network) -> tuple[int, str]:
    done = requester.careledger(
        "exchange", "fetch", "--from", custodian.address, "--patient", network.alice.address,
        "--categories", "labs", "--json",
    )  # fmt: skip
    return done.returncode, done.stdout if done.returncode == 0 else done.stderr


def _signed_fetch(requester: Site, custodian: Site, network: Network) -> str:
    """A fetch request for alice's labs, signed by the requester's node wallet, as its JSON body."""
    node = requester.node
    wallet = node.unlock(NODE_WALLET)
    request = FetchRequest.new(
        wallet.account.address, custodian.address, network.alice.address, Category.LABS.bit, Purpose.TREAT.bit
    )
    signed = request.sign(wallet.account, node.requester.chain_id, node.contracts.identity_registry().address)
    return json.dumps(signed.to_json())


def test_her_consent_opens_the_exchange_across_hosts_and_her_revoke_closes_it(network: Network) -> None:
    a, b, c = network["a"], network["b"], network["c"]
    granted = a.careledger(
        "consent", "grant", "--patient", "alice", "--to", b.address, "--categories", "labs", "--days", "1", "--json"
    )  # fmt: skip
    assert granted.returncode == 0, granted.stderr
    grant = json.loads(granted.stdout)
    assert (grant["granted_by"], grant["grantee"]) == (network.alice.address, b.address)

    with ThreadPoolExecutor(2) as both:  # B with her consent and C without it ask at the same time
        (code, out), (refused, why) = both.map(lambda site: _fetch(site, a, network), (b, c))
    assert code == 0, out
    assert sorted(json.loads(out)["stored"]) == sorted(network.labs)
    assert refused == DENIED, why
    assert "consent" in why

    # The exchange's own request and answer, timed from B's host: the connection's handshake and then the
    # request each went to A and back, every way across the link's 40 ms (~50 ms in all without it).
    url = f"http://{a.host.address}:{PORT}/exchange/fetch"
    timed = b.host.run([sys.executable, "-c", _ROUND_TRIP, url, _signed_fetch(b, a, network)], os.environ)
    assert timed.returncode == 0, timed.stderr
    answer = json.loads(timed.stdout)
    assert answer["status"] == 200, answer["body"]
    assert sorted(f"{r['resourceType']}/{r['id']}" for r in answer["body"]["records"]) == sorted(network.labs)
    assert answer["seconds"] >= 4 * DELAY_MS / 1000

    revoked = a.careledger("consent", "revoke", grant["id"], "--json")
    assert revoked.returncode == 0, revoked.stderr
    assert json.loads(revoked.stdout)["revoked"] is True

    code, out = _fetch(b, a, network)
    assert code == DENIED, out
    assert "revoked" in out
