"""A Backend Services client exports a generated population of 1,000 patients, and gets only what it may.

The population's Patients, Conditions and Allergies (about 3,600 records, the sensitive
mental-health and substance-use diagnoses among them) are held for one patient wallet,
which granted the clinic consent for the general categories only; the clinic's system
holds `system/Patient.rs system/Condition.rs`. The export must validate line by line
with fhir.resources and hold every general Patient and Condition, no sensitive one, and
no Allergy (out of scope).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from fhir.resources.R4B import get_fhir_model_class
from joserfc.jwk import ECKey, KeySet

from careledger.consent import Purpose
from careledger.records import Category, Importer, categorise
from careledger.testdata import synthetic_patients
from tests.access.conftest import built_world
from tests.api.conftest import serving

PATIENTS = 1000
TYPES = ("Patient", "Condition", "AllergyIntolerance")


def test_a_population_export_validates_and_holds_nothing_consent_or_scope_excludes(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    home = Path(tmp_path_factory.mktemp("population")) / "home"
    with built_world(home) as world, serving(world) as api:
        resources = [r for p in synthetic_patients(PATIENTS, seed=3) for r in p.resources if r["resourceType"] in TYPES]
        source = home.parent / "population.ndjson"
        source.write_text("".join(json.dumps(r) + "\n" for r in resources))
        Importer(world.node._records, patient_wallet=lambda _p: world.alice.address).run(source)
        general = [c for c in Category if not c.sensitive]
        terms = world.node.consent.terms(world.alice.address, world.clinic.address, general, [Purpose.TREAT], days=1)
        world.node.consent.grant(world.alice.name, terms)
        key = ECKey.generate_key("P-384")
        jwks = KeySet([key]).as_dict(private=False)
        client_id = world.node.clients.register_system("sync", world.clinic.address, jwks, ["system/*.rs"]).client_id

        token_url = f"{api.url}/auth/token"
        session = OAuth2Session(client_id, key, token_endpoint_auth_method="private_key_jwt")
        session.register_client_auth_method(
            PrivateKeyJWT(token_url, claims={"exp": int(time.time()) + 240}, alg="ES384")
        )
        token = session.fetch_token(
            token_url, grant_type="client_credentials", scope="system/Patient.rs system/Condition.rs"
        )
        headers = {"Authorization": f"Bearer {token['access_token']}", "Prefer": "respond-async"}
        with httpx.Client(base_url=api.url, headers=headers, timeout=60) as client:
            kick = client.get("/$export")
            assert kick.status_code == 202, kick.text
            for _ in range(1200):
                status = client.get(kick.headers["content-location"])
                if status.status_code == 200:
                    break
                time.sleep(0.1)
            assert status.status_code == 200, "the export did not finish in two minutes"
            assert status.json()["extension"] == {}, status.json()["extension"]  # no type failed
            exported = []
            for output in status.json()["output"]:
                for line in client.get(output["url"]).text.splitlines():
                    resource = json.loads(line)
                    get_fhir_model_class(resource["resourceType"]).model_validate(resource)
                    exported.append(resource)

    ours = {(r["resourceType"], r["id"]) for r in resources}
    got = {(r["resourceType"], r["id"]) for r in exported if (r["resourceType"], r["id"]) in ours}
    expected = {
        (r["resourceType"], r["id"])
        for r in resources
        if r["resourceType"] in ("Patient", "Condition") and not categorise(r).sensitive
    }
    assert got == expected
    assert len([r for r in resources if r["resourceType"] == "Patient"]) == PATIENTS
    assert not any(categorise(r).sensitive for r in exported)
    assert {r["resourceType"] for r in exported} <= {"Patient", "Condition"}
