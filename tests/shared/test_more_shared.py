"""Two workers of one node, further: a portal sign-out, export jobs and claim pacing, each shared by both.

The workers are `tests.shared.test_workers`' (two `Node`s and `NodeServer`s on one home and database, on SQLite
and PostgreSQL).
"""

from __future__ import annotations

import time

import httpx

from tests.outside_wallet import signed_in_message
from tests.shared.test_workers import _CSRF, ORIGIN, Workers, workers

__all__ = ["workers"]  # the fixture, shared with the module that defines it


def test_a_portal_sign_out_at_one_worker_revokes_its_token_as_a_bearer_at_the_other(workers: Workers) -> None:
    a, b = workers.urls
    with httpx.Client(base_url=a, headers={"Origin": ORIGIN}) as browser:
        csrf = _CSRF.findall(browser.get("/portal/signin").text)[0]
        message, signature = signed_in_message(a, workers.alice)
        form = {"csrf": csrf, "message": message, "signature": signature}
        assert browser.post("/portal/signin", data=form).status_code == 303
        token = browser.cookies["careledger_session"]
        bearer = {"Authorization": f"Bearer {token}"}
        assert httpx.get(f"{b}/Patient", headers=bearer).status_code == 200  # the cookie's token is the API's
        csrf = _CSRF.findall(browser.get("/portal/records").text)[0]
        assert browser.post("/portal/signout", data={"csrf": csrf}).status_code == 303
    deadline = time.monotonic() + 2.5  # each worker re-reads the revocations once a second (and a loaded CI's slack)
    while (answer := httpx.get(f"{b}/Patient", headers=bearer)).status_code == 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert answer.status_code == 401
    assert "revoked" in answer.text
