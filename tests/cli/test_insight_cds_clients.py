"""`careledger insight cds-client`: registering, listing and removing the EHRs allowed to call the CDS services."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import Cli
from tests.insight.cds.ehr import Ehr


def test_a_client_is_added_listed_and_removed(cli: Cli, tmp_path: Path) -> None:
    assert cli("--chain", "memory", "init", "--light-kdf").code == 0
    ehr = Ehr(iss="https://ehr.example.org")
    keys = tmp_path / "jwks.json"
    keys.write_text(json.dumps(ehr.jwks))
    assert cli("insight", "cds-client", "list").out == "no CDS clients registered\n"
    added = cli("insight", "cds-client", "add", ehr.iss, "--jwks", str(keys))
    assert added.code == 0, added.err
    assert added.out == f"added https://ehr.example.org  keys {ehr.kid}\n"
    jku = cli("insight", "cds-client", "add", "https://other.example.org", "--jku", "https://other.example.org/jwks")
    assert jku.code == 0, jku.err
    listed = json.loads(cli("insight", "cds-client", "list", "--json").out)
    assert listed == [
        {"iss": ehr.iss, "jku": None, "kids": [ehr.kid]},
        {"iss": "https://other.example.org", "jku": "https://other.example.org/jwks", "kids": None},
    ]
    assert cli("insight", "cds-client", "remove", ehr.iss).code == 0
    assert [c["iss"] for c in json.loads(cli("insight", "cds-client", "list", "--json").out)] == [
        "https://other.example.org"
    ]


def test_wrong_input_is_one_line_and_exit_code_2(cli: Cli, tmp_path: Path) -> None:
    assert cli("--chain", "memory", "init", "--light-kdf").code == 0
    private = tmp_path / "private.json"
    private.write_text(json.dumps({"keys": [Ehr().jwks["keys"][0] | {"d": "secret"}]}))
    for args, says in (
        (["add", "https://x.example.org"], "one of the two"),
        (["add", "https://x.example.org", "--jku", "http://x.example.org/jwks"], "https URL"),
        (["add", "https://x.example.org", "--jwks", str(private)], "private key"),
    ):
        done = cli("insight", "cds-client", *args)
        assert done.code == 2, done.err
        assert says in done.err
        assert len(done.err.strip().splitlines()) == 1
    missing = cli("insight", "cds-client", "remove", "https://nobody.example.org")
    assert missing.code == 4
    assert "no CDS client" in missing.err
