"""docs/claims.md's worked example, row by row, against the contract and the claims service."""

from __future__ import annotations

import re
from pathlib import Path

from careledger.chain import ClaimStatus
from careledger.claims import CPT, ClaimLine, ServiceClass
from tests.claims.conftest import CARE, World

DOC = Path(__file__).resolve().parents[2] / "docs" / "claims.md"


def _rows() -> list[dict[str, str]]:
    text = DOC.read_text()
    table = re.search(r"<!-- worked-example -->\n(.*?)<!-- /worked-example -->", text, re.S)
    assert table, "docs/claims.md lost its worked example"
    header, _, *lines = table.group(1).strip().splitlines()
    names = [cell.strip() for cell in header.strip("|").split("|")]
    return [dict(zip(names, (cell.strip() for cell in line.strip("|").split("|")), strict=True)) for line in lines]


def _care(cell: str) -> int:
    return int(cell.replace(",", "")) * CARE


def test_the_worked_example_in_the_docs_is_what_the_contract_does(world: World) -> None:
    rows = _rows()
    assert len(rows) == 4
    for row in rows:
        claims = world.claims()
        preauth_id = 0
        if "prior authorization" in row["service"]:
            preauth_id = claims.request_preauth(world.alice.address, ServiceClass.IMAGING, bytes(32))
            world.claims("insurer").decide_preauth(preauth_id, True, 0, 2**40)
        code = row["code"].removeprefix("cpt:")
        encounter = world.encounter(f"encounter-{row['#']}")
        outcome = world.node.claims.submit(
            world.billing, encounter, [ClaimLine(CPT, code, _care(row["billed"]))], preauth_id=preauth_id
        )
        if outcome.state.status is ClaimStatus.PENDED:
            world.claims("insurer").approve(outcome.claim_id)
            outcome = world.node.claims.follow(outcome.record_id or "")
        assert [d.status.label for d in outcome.decisions] == row["status"].split(", "), row["#"]
        final = outcome.decisions[-1]
        assert final.allowed == _care(row["allowed"]), row["#"]
        assert final.deductible == _care(row["deductible"]), row["#"]
        assert final.coinsurance == _care(row["coinsurance"]), row["#"]
        assert final.patient_share == _care(row["member pays"]), row["#"]
        assert final.payer_share == _care(row["plan pays"]), row["#"]
    enrolment = world.claims().enrolment(world.alice.address)
    assert (enrolment.deductible_met, enrolment.out_of_pocket) == (500 * CARE, 1_500 * CARE)
