"""Two workers of one node, further: a portal sign-out, export jobs and claim pacing, each shared by both.

The workers are `tests.shared.test_workers`' (two `Node`s and `NodeServer`s on one home and database, on SQLite
and PostgreSQL).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict

import httpx
from eth_account.signers.local import LocalAccount

from careledger.access import Accessor
from careledger.access._claim_limits import CODE_FAILURES
from careledger.access._claiming import MAX_FAILURES
from careledger.api._bulk import STALE_SECONDS, ExportJob
from careledger.errors import AccessDenied, TooMany
from careledger.identity import Role
from careledger.shared import ExportStore
from careledger.testdata import PASSPHRASE, synthetic_patients
from tests.outside_wallet import signed_in_message
from tests.shared.test_workers import _CSRF, ORIGIN, Workers, once_revocations_are_read, workers

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
    answer = once_revocations_are_read(b, bearer)
    assert answer.status_code == 401
    assert "revoked" in answer.text


def _login(url: str, account: LocalAccount) -> dict[str, str]:
    message, signature = signed_in_message(url, account)
    answer = httpx.post(f"{url}/auth/login", json={"message": message, "signature": signature})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def _finished(url: str, headers: dict[str, str]) -> httpx.Response:
    for _ in range(300):
        status = httpx.get(url, headers=headers)
        if status.status_code != 202:
            return status
        assert status.headers["Retry-After"] == "2"
        time.sleep(0.1)
    raise AssertionError("the export did not finish")


def test_an_export_kicked_off_at_one_worker_is_polled_fetched_and_deleted_at_the_other(workers: Workers) -> None:
    a, b = workers.urls
    patient = synthetic_patients(1, seed=11)[0]
    first = workers.nodes[0]
    first.maintenance.write(patient.patient, patient_address=workers.alice.address)
    written = [first.maintenance.write(r) for r in patient.resources if r is not patient.patient][:3]
    bearer = _login(a, workers.alice)
    kick = httpx.get(f"{a}/Patient/$export", headers={**bearer, "Prefer": "respond-async"})
    assert kick.status_code == 202, kick.text
    status_url = kick.headers["Content-Location"].replace(a, b)  # the next poll reaches the other worker
    done = _finished(status_url, bearer)
    assert done.status_code == 200, done.text
    outputs = done.json()["output"]
    assert outputs
    exported: set[str] = set()
    for output in outputs:
        data = httpx.get(output["url"].replace(a, b), headers=bearer)
        assert data.status_code == 200
        assert data.headers["content-type"].startswith("application/fhir+ndjson")
        exported |= {json.loads(line)["id"] for line in data.text.splitlines()}
    assert {s.record_id for s in written} <= exported
    stranger = _login(b, workers.drbob)
    assert httpx.get(status_url, headers=stranger).status_code == 404  # another's job is no job
    assert httpx.delete(status_url, headers=bearer).status_code == 202
    for url in (status_url, status_url.replace(b, a), outputs[0]["url"]):
        assert httpx.get(url, headers=bearer).status_code == 404
    assert httpx.get(f"{b}/bulk/no-such-job", headers=bearer).status_code == 404


def test_an_export_whose_worker_stopped_is_told_as_failed_not_running(workers: Workers) -> None:
    a, b = workers.urls
    bearer = _login(a, workers.alice)
    caller = workers.servers[0].auth.caller(bearer["Authorization"])
    store = ExportStore(workers.nodes[0].shared.tickets, workers.servers[0].auth.derived_key("exports"))
    started = time.time() - STALE_SECONDS - 5  # its worker saved it last that long ago, then died
    job = ExportJob("died-mid-job", [caller.address, caller.compartment], "", ["Observation"], None, "", 0)
    job.saved_at = started
    store.create(job.job_id, asdict(job), 60)
    failed = httpx.get(f"{b}/bulk/{job.job_id}", headers=bearer)
    assert failed.status_code == 500
    assert failed.json()["resourceType"] == "OperationOutcome"
    assert "stopped before it finished" in failed.text
    job.saved_at = time.time()  # alive: still running
    store.save(job.job_id, asdict(job), 60)
    running = httpx.get(f"{a}/bulk/{job.job_id}", headers=bearer)
    assert running.status_code == 202
    assert running.headers["X-Progress"] == "0 of 1 types exported"


def test_two_workers_pace_a_claim_codes_wrong_tries_as_one(workers: Workers) -> None:
    first, second = workers.nodes
    patient = first.access.for_caller(Accessor(first.address)).write(synthetic_patients(1, seed=13)[0].patient)
    first.claiming.issue(patient.patient_address)
    eve = first.wallets.create("eve-at-both", Role.PATIENT, PASSPHRASE)
    answers = []
    for tries in range(MAX_FAILURES):  # from an address of its own each, to each worker in turn
        try:
            workers.nodes[tries % 2].claiming.claim_record(
                patient.record_id, "0000-0000-0000", eve.address, eve.encryption_key, client=f"198.18.7.{tries}"
            )
        except TooMany as exc:
            answers.append(f"429 {exc}")
        except AccessDenied as exc:
            answers.append(f"403 {exc}")
    refused = sum(answer.startswith("403 claim refused: wrong claim code") for answer in answers)
    assert answers[refused:] == ["429 too many wrong tries of this claim code just now: try again in 10 min"] * (
        MAX_FAILURES - refused
    )
    assert refused == CODE_FAILURES  # what one worker allows, not twice as much
    assert second.claiming.status(patient.patient_address).failures == CODE_FAILURES
