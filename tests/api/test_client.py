"""`careledger.client` and the CLI's `--node URL` against a real server."""

from __future__ import annotations

import json

import pytest

from careledger.cli import run
from careledger.client import FhirClient
from careledger.errors import Gone, NotFound, PreconditionFailed, Unauthenticated
from tests.api.conftest import Api


def test_the_client_signs_in_and_does_crud_and_search(api: Api) -> None:
    node = api.world.node
    (patient,) = node._records.list(patient_address=api.world.alice.address, resource_type="Patient")
    with FhirClient(api.url) as client:
        with pytest.raises(Unauthenticated, match="sign in first"):
            client.read("Patient", patient.record_id)
        assert client.login(node.unlock("alice").account) == api.world.alice.address
        created = client.create(
            {
                "resourceType": "Observation",
                "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
                "subject": {"reference": f"Patient/{patient.record_id}"},
                "valueQuantity": {"value": 70, "unit": "/min"},
            }
        )
        assert client.read("Observation", created["id"])["valueQuantity"]["value"] == 70
        with pytest.raises(PreconditionFailed, match="version 1"):
            client.update({**created, "status": "amended"}, if_match=3)
        assert client.update({**created, "status": "amended"}, if_match=1)["meta"]["versionId"] == "2"
        assert created["id"] in [r["id"] for r in client.search("Observation", code="8867-4")]
        client.delete("Observation", created["id"])
        with pytest.raises(Gone):
            client.read("Observation", created["id"])
    with FhirClient(api.url) as clinic:
        clinic.login(node.unlock("clinic").account)
        with pytest.raises(NotFound, match="no record"):  # hers, told as unknown
            clinic.read("Observation", api.world.labs_id)


def test_the_cli_reads_through_a_remote_node(
    api: Api, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CARELEDGER_PASSPHRASE", "pw")
    home = ["--home", str(api.world.node.home.path), "--node", api.url]
    assert run([*home, "record", "get", f"Observation/{api.world.labs_id}", "--as", "clinic"]) == 4
    assert f"no record {api.world.labs_id}" in capsys.readouterr().err
    assert run([*home, "record", "get", f"Observation/{api.world.labs_id}", "--as", "alice"]) == 0
    assert json.loads(capsys.readouterr().out)["id"] == api.world.labs_id
    assert run([*home, "record", "get", api.world.labs_id, "--as", "alice"]) == 2
    assert "Type/id" in capsys.readouterr().err
