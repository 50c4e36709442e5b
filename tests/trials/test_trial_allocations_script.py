"""scripts/trial_allocations.py, the checker that imports nothing of CareLedger: it recomputes a trial's allocations
from anvil's logs and the revealed seed, and names the participant whose commitment is not her arm's."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest
from eth_account import Account
from eth_utils import keccak
from hypothesis import given
from hypothesis import strategies as st

from careledger.chain import Chain, Contracts, Deployer, IdentityRegistry, Role, Signer, Trials, TrialTerms, open_chain
from careledger.crypto import PrivateKey
from careledger.trials import allocate, allocation_commitment, new_seed, seed_commitment

SCRIPT = Path(__file__).parents[2] / "scripts" / "trial_allocations.py"
CARE = 10**18
RATIOS, MULTIPLES = (1, 1), (1, 2)
PARTICIPANTS = 10
ROLES = {"sponsor": Role.RESEARCHER, "board": Role.ORG, "site 0": Role.ORG, "site 1": Role.ORG}


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("trial_allocations", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def _run(*args: str | int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=120, check=False
    )


def test_the_script_imports_only_the_standard_library_and_web3() -> None:
    allowed = set(sys.stdlib_module_names) | {"web3", "eth_abi", "eth_utils"}
    imported = set()
    for node in ast.walk(ast.parse(SCRIPT.read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0
            imported.add((node.module or "").split(".")[0])
    assert "careledger" not in imported
    assert imported <= allowed, imported - allowed
    assert {"web3", "eth_abi", "eth_utils", "hashlib"} <= imported


@given(
    strata=st.lists(st.integers(0, 5), max_size=60),
    ratios=st.lists(st.integers(1, 4), min_size=2, max_size=8),
    multiples=st.lists(st.integers(1, 4), min_size=1, max_size=4),
    trial_id=st.integers(0, 2**256 - 1),
)
def test_the_scripts_randomisation_agrees_with_the_projects(
    strata: list[int], ratios: list[int], multiples: list[int], trial_id: int
) -> None:
    """Two implementations of the spec, written apart: the same arms and commitments for any design."""
    script = _script()
    seed = bytes(range(32))
    enrolments = [(keccak(b"p%d" % i), stratum) for i, stratum in enumerate(strata)]
    arms = allocate(seed, trial_id, ratios, multiples, enrolments)
    assert script.allocate(seed, trial_id, ratios, multiples, strata) == arms
    for (participant, _), arm in zip(enrolments, arms, strict=True):
        assert script.commitment(seed, trial_id, participant, arm) == allocation_commitment(
            seed, trial_id, participant, arm
        )


@dataclass
class Network:
    """An anvil chain with every contract deployed, a sponsor, an ethics board and two sites on Trials."""

    chain: Chain
    sponsor: Trials
    board: Trials
    sites: list[Trials]

    @property
    def url(self) -> str:
        assert self.chain.url is not None
        return self.chain.url

    def enrolled_trial(self, seed: bytes) -> tuple[int, list[bytes], list[int]]:
        """A trial with 10 participants over 2 strata and 2 sites: its id, the participants and their strata."""
        sites = tuple(site.signer.address for site in self.sites if site.signer is not None)
        per_participant = 3 * 40 * CARE
        terms = TrialTerms(
            keccak(b"protocol"), keccak(b"consent"), PARTICIPANTS, RATIOS, MULTIPLES, 3, 30 * CARE, 10 * CARE,
            PARTICIPANTS * per_participant, sites,
        )  # fmt: skip
        trial_id = self.sponsor.register_trial(terms)
        self.board.approve_version(trial_id, 1)
        self.sponsor.commit_seed(trial_id, seed_commitment(seed))
        participants = [keccak(os.urandom(32)) for _ in range(PARTICIPANTS)]
        strata = [n % 3 % 2 for n in range(PARTICIPANTS)]
        for n, (participant, stratum) in enumerate(zip(participants, strata, strict=True)):
            payee = Account.create().address
            self.sites[n % 2].enrol(trial_id, participant, stratum, 1, keccak(b"signature %d" % n), payee)
        return trial_id, participants, strata


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    with open_chain("anvil", chain_dir=tmp_path_factory.mktemp("chain")) as chain:
        admin = chain.signer(Account.create())
        deployer = Deployer(chain, None)
        deployer.deploy_all(admin)
        wallets: dict[str, Signer] = {"admin": admin}
        for name in ("sponsor", "board", "site 0", "site 1"):
            wallets[name] = chain.signer(Account.create())
        contracts = Contracts(chain, deployer, wallets.__getitem__, "admin")
        identity = IdentityRegistry(chain, deployer.address("IdentityRegistry"), admin)
        for name, role in {
            "sponsor": Role.RESEARCHER,
            "board": Role.ORG,
            "site 0": Role.ORG,
            "site 1": Role.ORG,
        }.items():
            identity.register_actor(wallets[name].address, role, PrivateKey.generate().public_key)
        identity.attest(wallets["board"].address, "research-ethics-approval", chain.timestamp() + 86_400)
        contracts.token(as_wallet="admin").mint(wallets["sponsor"].address, 10**6 * CARE)
        yield Network(
            chain,
            contracts.trials(as_wallet="sponsor"),
            contracts.trials(as_wallet="board"),
            [contracts.trials(as_wallet="site 0"), contracts.trials(as_wallet="site 1")],
        )


@pytest.mark.anvil
def test_the_script_recomputes_every_allocation_of_an_unblinded_trial(network: Network) -> None:
    seed = new_seed()
    trial_id, participants, strata = network.enrolled_trial(seed)
    arms = allocate(seed, trial_id, RATIOS, MULTIPLES, list(zip(participants, strata, strict=True)))
    pairs = [(p, allocation_commitment(seed, trial_id, p, arm)) for p, arm in zip(participants, arms, strict=True)]
    network.sponsor.allocate(trial_id, pairs)
    network.sponsor.reveal(trial_id, seed)

    table = _run(network.url, network.sponsor.address, trial_id)
    assert table.returncode == 0, table.stderr
    rows = [fields for fields in map(str.split, table.stdout.splitlines()) if len(fields) == 5 and fields[0].isdigit()]
    assert [(int(i), p, int(s), int(a), ok) for i, p, s, a, ok in rows] == [
        (n, "0x" + participants[n].hex(), strata[n], arms[n], "ok") for n in range(PARTICIPANTS)
    ]
    assert "10 allocations, all match" in table.stdout

    as_json = _run(network.url, network.sponsor.address, trial_id, "--json")
    assert as_json.returncode == 0, as_json.stderr
    verdict = json.loads(as_json.stdout)
    assert (verdict["ok"], verdict["problems"], verdict["seed"]) == (True, [], "0x" + seed.hex())
    assert [row["arm"] for row in verdict["allocations"]] == arms
    assert all(row["commitment_ok"] for row in verdict["allocations"])


@pytest.mark.anvil
def test_a_commitment_to_the_wrong_arm_fails_the_check_naming_her(network: Network) -> None:
    seed = new_seed()
    trial_id, participants, strata = network.enrolled_trial(seed)
    arms = allocate(seed, trial_id, RATIOS, MULTIPLES, list(zip(participants, strata, strict=True)))
    arms_committed = list(arms)
    arms_committed[6] = 1 - arms[6]  # the sponsor records another arm for the seventh participant
    network.sponsor.allocate(
        trial_id,
        [(p, allocation_commitment(seed, trial_id, p, a)) for p, a in zip(participants, arms_committed, strict=True)],
    )
    network.sponsor.reveal(trial_id, seed)

    checked = _run(network.url, network.sponsor.address, trial_id)
    assert checked.returncode == 1
    tampered = "0x" + participants[6].hex()
    assert f"participant {tampered} (index 6): the commitment on chain is not arm {arms[6]}'s" in checked.stderr
    assert checked.stderr.count("participant 0x") == 1
    assert f"6  {tampered}  {strata[6]:>7}  {arms[6]:>3}  MISMATCH" in checked.stdout
    as_json = json.loads(_run(network.url, network.sponsor.address, trial_id, "--json").stdout)
    assert as_json["ok"] is False
    assert [row["commitment_ok"] for row in as_json["allocations"]] == [n != 6 for n in range(PARTICIPANTS)]


@pytest.mark.anvil
def test_a_blinded_trial_cannot_be_checked_yet(network: Network) -> None:
    trial_id, _, _ = network.enrolled_trial(new_seed())
    checked = _run(network.url, network.sponsor.address, trial_id)
    assert checked.returncode == 1
    assert f"trial {trial_id} is still blinded: its seed is not revealed" in checked.stderr


@pytest.mark.anvil
def test_what_cannot_be_checked_is_a_bad_argument(network: Network) -> None:
    no_trial = _run(network.url, network.sponsor.address, 999)
    assert (no_trial.returncode, no_trial.stderr.strip()) == (
        2,
        f"trial_allocations: no trial 999 at {network.sponsor.address}",
    )
    nobody = Account.create().address
    no_contract = _run(network.url, nobody, 1)
    assert (no_contract.returncode, no_contract.stderr.strip()) == (2, f"trial_allocations: no contract at {nobody}")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["http://127.0.0.1:1", "0x12", "1"], "'0x12' is not an address"),
        (["http://127.0.0.1:1", "0x" + "11" * 20, "-3"], "trial id -3 is negative"),
        (["http://127.0.0.1:1", "0x" + "11" * 20, "one"], "invalid int value: 'one'"),
        (["http://127.0.0.1:1", "0x" + "11" * 20, "1"], "no Ethereum JSON-RPC endpoint answers at http://127.0.0.1:1"),
    ],
)
def test_bad_arguments_exit_2(args: list[str], message: str) -> None:
    refused = _run(*args)
    assert refused.returncode == 2
    assert message in refused.stderr
