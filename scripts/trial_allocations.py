"""Recompute every allocation of an unblinded CareLedger trial from the chain alone, and check its commitments.

    python scripts/trial_allocations.py RPC_URL TRIALS_ADDRESS TRIAL_ID [--json]

Anyone can run this: it needs only an Ethereum JSON-RPC endpoint and imports nothing of CareLedger (the standard
library, web3, eth_abi and eth_utils), so it checks the project instead of trusting it. It reads the trial's ratios,
block multiples and revealed seed, and its `Enrolled` and `Allocated` logs; it redraws each stratum's permuted blocks
from the seed as the protocol says, and checks that every participant's commitment on chain is
keccak256(seed || uint256 trial || participant || uint8 arm) for the arm recomputed.

Exit status: 0 when every allocation matches, 1 on any mismatch or while the seed is not revealed, 2 on bad
arguments (an unreachable RPC URL, no contract or no such trial at the address).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from eth_abi import decode
from eth_utils import is_address, keccak, to_checksum_address
from web3 import Web3
from web3.exceptions import Web3Exception

LOG_SPAN = 2_000  # blocks per eth_getLogs request: what public endpoints allow
WORDS = 2**256
ZERO = bytes(32)

_TRIAL_FIELDS = [
    ("sponsor", "address"),
    ("target", "uint32"),
    ("enrolled", "uint32"),
    ("withdrawn", "uint32"),
    ("visits", "uint8"),
    ("site_fee", "uint256"),
    ("stipend", "uint256"),
    ("budget", "uint256"),
    ("escrow", "uint256"),
    ("owed", "uint256"),
    ("current_version", "uint32"),
    ("latest_version", "uint32"),
    ("reconsent_from", "uint32"),
    ("seed_hash", "bytes32"),
    ("seed", "bytes32"),
    ("revealed_at", "uint64"),
    ("arms", "uint8"),
    ("allocated", "uint32"),
]
_TRIAL_ID = [{"name": "trial_id", "type": "uint256"}]
# Only what this check reads of Trials.vy.
ABI: list[dict[str, Any]] = [
    {
        "type": "function",
        "name": "trial",
        "stateMutability": "view",
        "inputs": _TRIAL_ID,
        "outputs": [
            {"name": "", "type": "tuple", "components": [{"name": n, "type": t} for n, t in _TRIAL_FIELDS]},
        ],
    },
    {
        "type": "function",
        "name": "ratios",
        "stateMutability": "view",
        "inputs": _TRIAL_ID,
        "outputs": [{"name": "", "type": "uint8[]"}],
    },
    {
        "type": "function",
        "name": "block_multiples",
        "stateMutability": "view",
        "inputs": _TRIAL_ID,
        "outputs": [{"name": "", "type": "uint8[]"}],
    },
]
# Enrolled(uint256 indexed trial_id, bytes32 indexed participant, address indexed site, uint32 index, uint16 stratum,
# uint32 version) and Allocated(uint256 indexed trial_id, bytes32 indexed participant, bytes32 commitment).
ENROLLED = keccak(text="Enrolled(uint256,bytes32,address,uint32,uint16,uint32)")
ALLOCATED = keccak(text="Allocated(uint256,bytes32,bytes32)")


class BadArguments(Exception):
    """What was asked cannot be checked: no endpoint, no contract, no such trial."""


@dataclass(frozen=True)
class Enrolment:
    """One `Enrolled` log: the participant's place in the trial's enrolment order and her stratum."""

    index: int
    participant: bytes
    stratum: int


@dataclass(frozen=True)
class Row:
    """One participant's recomputed arm and whether the commitment on chain is the one for that arm."""

    index: int
    participant: str
    stratum: int
    arm: int
    commitment_ok: bool


# The randomisation, as the protocol defines it (written here again so that nothing of the project is trusted).


def allocate(
    seed: bytes, trial_id: int, ratios: Sequence[int], block_multiples: Sequence[int], strata: Sequence[int]
) -> list[int]:
    """Each participant's arm, given the strata of all participants in enrolment order: a stratum's participants
    fill its permuted blocks 0, 1, 2, ... in order."""
    streams: dict[int, Iterator[int]] = {}
    arms = []
    for stratum in strata:
        if stratum not in streams:
            streams[stratum] = _stratum(seed, trial_id, stratum, ratios, block_multiples)
        arms.append(next(streams[stratum]))
    return arms


def _stratum(
    seed: bytes, trial_id: int, stratum: int, ratios: Sequence[int], block_multiples: Sequence[int]
) -> Iterator[int]:
    for block in itertools.count():
        # Block j of stratum s reads words sha256(seed || uint256 trial || uint16 s || uint32 j || uint32 k).
        prefix = seed + trial_id.to_bytes(32, "big") + stratum.to_bytes(2, "big") + block.to_bytes(4, "big")
        words = (hashlib.sha256(prefix + k.to_bytes(4, "big")).digest() for k in itertools.count())
        multiple = block_multiples[_uniform(words, len(block_multiples))]
        arms = []
        for arm, ratio in enumerate(ratios):
            arms += [arm] * (ratio * multiple)
        for i in range(len(arms) - 1, 0, -1):
            j = _uniform(words, i + 1)
            arms[i], arms[j] = arms[j], arms[i]
        yield from arms


def _uniform(words: Iterator[bytes], n: int) -> int:
    """The next word below the largest multiple of n, mod n: uniform on 0..n-1."""
    while (x := int.from_bytes(next(words), "big")) >= WORDS - WORDS % n:
        pass
    return x % n


def commitment(seed: bytes, trial_id: int, participant: bytes, arm: int) -> bytes:
    """keccak256(seed || uint256 trial || participant || uint8 arm)."""
    return keccak(seed + trial_id.to_bytes(32, "big") + participant + bytes([arm]))


# Reading the chain.


def _contract(rpc_url: str, address: str) -> Any:
    web3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 30}))
    if not web3.is_connected():
        raise BadArguments(f"no Ethereum JSON-RPC endpoint answers at {rpc_url}")
    if not web3.eth.get_code(to_checksum_address(address)):
        raise BadArguments(f"no contract at {address}")
    return web3.eth.contract(address=to_checksum_address(address), abi=ABI)


def _logs(contract: Any, topic: bytes, trial_id: int) -> Iterator[Any]:
    """The contract's logs of one event for one trial, from block 0 on, in spans of LOG_SPAN blocks."""
    web3 = contract.w3
    latest = web3.eth.block_number
    for start in range(0, latest + 1, LOG_SPAN):
        yield from web3.eth.get_logs(
            {
                "address": contract.address,
                "fromBlock": start,
                "toBlock": min(start + LOG_SPAN - 1, latest),
                "topics": ["0x" + topic.hex(), "0x" + trial_id.to_bytes(32, "big").hex()],
            }
        )


def enrolments(contract: Any, trial_id: int) -> list[Enrolment]:
    """The trial's `Enrolled` logs in enrolment order."""
    found = []
    for log in _logs(contract, ENROLLED, trial_id):
        index, stratum, _version = decode(["uint32", "uint16", "uint32"], bytes(log["data"]))
        found.append(Enrolment(index, bytes(log["topics"][2]), stratum))
    return sorted(found, key=lambda enrolment: enrolment.index)


def allocations(contract: Any, trial_id: int) -> dict[bytes, bytes]:
    """Each allocated participant's commitment, from the trial's `Allocated` logs."""
    return {
        bytes(log["topics"][2]): decode(["bytes32"], bytes(log["data"]))[0]
        for log in _logs(contract, ALLOCATED, trial_id)
    }


def check(rpc_url: str, address: str, trial_id: int) -> tuple[list[Row], list[str], dict[str, Any]]:
    """Every participant's recomputed arm, the mismatches found (in words), and the trial's design."""
    contract = _contract(rpc_url, address)
    trial = dict(zip([name for name, _ in _TRIAL_FIELDS], contract.functions.trial(trial_id).call(), strict=True))
    if int(trial["sponsor"], 16) == 0:
        raise BadArguments(f"no trial {trial_id} at {address}")
    seed = bytes(trial["seed"])
    ratios = list(contract.functions.ratios(trial_id).call())
    multiples = list(contract.functions.block_multiples(trial_id).call())
    design = {"trial": trial_id, "seed": "0x" + seed.hex(), "ratios": ratios, "block_multiples": multiples}
    if seed == ZERO:
        return [], [f"trial {trial_id} is still blinded: its seed is not revealed"], design
    problems = []
    if keccak(seed) != bytes(trial["seed_hash"]):
        problems.append("the revealed seed's keccak256 is not the seed hash committed")
    enrolled = enrolments(contract, trial_id)
    committed = allocations(contract, trial_id)
    if [enrolment.index for enrolment in enrolled] != list(range(trial["enrolled"])):
        problems.append(
            f"the Enrolled logs are not indexes 0..{trial['enrolled'] - 1}, the {trial['enrolled']} enrolled"
        )
    arms = allocate(seed, trial_id, ratios, multiples, [enrolment.stratum for enrolment in enrolled])
    rows = []
    for enrolment, arm in zip(enrolled, arms, strict=True):
        name = "0x" + enrolment.participant.hex()
        on_chain = committed.pop(enrolment.participant, None)
        matches = on_chain == commitment(seed, trial_id, enrolment.participant, arm)
        if on_chain is None:
            problems.append(f"participant {name} (index {enrolment.index}) has no allocation on chain")
        elif not matches:
            problems.append(f"participant {name} (index {enrolment.index}): the commitment on chain is not arm {arm}'s")
        rows.append(Row(enrolment.index, name, enrolment.stratum, arm, matches))
    problems += [f"participant 0x{p.hex()} is allocated but was never enrolled" for p in committed]
    return rows, problems, design


def _print_table(rows: list[Row], problems: list[str], design: dict[str, Any]) -> None:
    print(f"trial {design['trial']}: ratios {design['ratios']}, block multiples {design['block_multiples']}")
    print(f"seed {design['seed']}")
    print(f"{'index':>5}  {'participant':<66}  {'stratum':>7}  {'arm':>3}  commitment")
    for row in rows:
        verdict = "ok" if row.commitment_ok else "MISMATCH"
        print(f"{row.index:>5}  {row.participant:<66}  {row.stratum:>7}  {row.arm:>3}  {verdict}")
    for problem in problems:
        print(problem, file=sys.stderr)
    counted = f"{len(rows)} allocation{'' if len(rows) == 1 else 's'}"
    print(f"{counted}, {'all match' if not problems else f'{len(problems)} problem(s)'}")


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rpc_url", help="an Ethereum JSON-RPC endpoint, e.g. http://127.0.0.1:8545")
    parser.add_argument("trials_address", help="the Trials contract's address")
    parser.add_argument("trial_id", type=int, help="the trial's id")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    arguments = parser.parse_args(argv)
    if not is_address(arguments.trials_address):
        parser.error(f"{arguments.trials_address!r} is not an address")
    if arguments.trial_id < 0:
        parser.error(f"trial id {arguments.trial_id} is negative")
    return arguments


def main(argv: Sequence[str] | None = None) -> int:
    """Check the trial; the exit status says the verdict."""
    arguments = _arguments(argv)
    try:
        rows, problems, design = check(arguments.rpc_url, arguments.trials_address, arguments.trial_id)
    except (BadArguments, Web3Exception, OSError) as exc:
        print(f"trial_allocations: {exc}", file=sys.stderr)
        return 2
    if arguments.json:
        verdict = {"allocations": [asdict(row) for row in rows], "problems": problems, "ok": not problems}
        print(json.dumps({**design, **verdict}, indent=2))
    else:
        _print_table(rows, problems, design)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
