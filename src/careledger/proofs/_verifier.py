"""The standalone verifier: an exported file, a JSON-RPC URL and the network's RecordAnchor, no home, no node.

The contract is pinned by whoever verifies (`--anchor ADDRESS`, or a node's `deployments/<chain id>.json`
they trust), never taken from the file: anyone may deploy a RecordAnchor of their own on a public chain and
anchor the root of a forged record there. For each record the file carries (a Bundle's entries with their
`PROOF_URL` extension, or a `$verify` answer's `record` and `proof`), every step is recomputed from the bytes
in the file and checked against the chain, and the first step that fails is named:

1. `commitment mismatch`: the resource's canonical bytes, re-encrypted with the proof's data key and
   nonce, do not give the content id whose salted commitment the proof names (one changed byte does this);
2. `not yet anchored`: the proof names no batch (the node had not anchored the version when it exported);
3. `path mismatch`: the Merkle path does not lead from the commitment to the proof's root;
4. `wrong contract`: the proof names another contract than the pinned RecordAnchor;
5. `wrong chain`: the endpoint serves another chain than the proof's;
6. `root not on chain`: the pinned RecordAnchor holds no batch of records under that root;
   and the contract's own `verify` must agree with the path.

A record that passes is told with its batch root, block, transaction, the chain's time and the batch's
anchorer, and whether that account still holds ANCHORER_ROLE on the contract (the council revokes it from
a node it removes: its earlier anchors stand, the contract let it anchor then, and the reader is told).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from careledger.errors import CareLedgerError, ChainUnavailable, NotFound, ValidationError
from careledger.fhir import loads
from careledger.proofs._format import PROOF_URL, RecordProof
from careledger.proofs._recompute import ciphertext_id, commitment_of, named, root_of
from careledger.proofs._rpc import KIND_RECORDS, AnchorReader, ChainBatch, checked_address

MAX_FILE_BYTES = 512 * 1024 * 1024
MAX_DEPLOYMENTS_BYTES = 16 * 1024 * 1024  # a deployments file carries each contract's ABI: a few hundred KiB
ANCHOR_CONTRACT = "RecordAnchor"

COMMITMENT_MISMATCH = "commitment mismatch"
NOT_ANCHORED = "not yet anchored"
PATH_MISMATCH = "path mismatch"
WRONG_CONTRACT = "wrong contract"
WRONG_CHAIN = "wrong chain"
ROOT_NOT_ON_CHAIN = "root not on chain"
NO_PROOF = "no proof"
MALFORMED = "malformed"
MALFORMED_PROOF = "malformed proof"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the verifier found for one record: ok with its anchor, or the first step that failed and why."""

    record: str
    ok: bool
    problem: str | None
    detail: str
    root: bytes | None = None
    block: int | None = None
    transaction: str | None = None
    anchored_at: datetime | None = None
    anchorer: str | None = None
    anchorer_holds_role: bool | None = None

    def to_json(self) -> dict[str, Any]:
        """The outcome as JSON, for `careledger verify --json`."""
        return {
            "record": self.record,
            "ok": self.ok,
            "problem": self.problem,
            "detail": self.detail,
            "root": "0x" + self.root.hex() if self.root is not None else None,
            "block": self.block,
            "transaction": self.transaction,
            "anchoredAt": self.anchored_at.isoformat().replace("+00:00", "Z") if self.anchored_at else None,
            "anchorer": self.anchorer,
            "anchorerHoldsRole": self.anchorer_holds_role,
        }


@dataclass(frozen=True, slots=True)
class _Carried:
    """One record as the file carries it: what names it, its resource, and its proof (or why it has none)."""

    name: str
    resource: Any
    proof: RecordProof | None
    problem: str = NO_PROOF
    detail: str = "the file carries no proof of this record"


def read_document(path: Path, limit: int = MAX_FILE_BYTES) -> Any:
    """The JSON in `path`; `ValidationError` if it cannot be read, is larger than `limit` or is not JSON."""
    try:
        if path.stat().st_size > limit:
            raise ValidationError(f"{path} is larger than {limit // 2**20} MiB")
        raw = path.read_bytes()
    except OSError as exc:
        raise ValidationError(f"cannot read {path}: {exc.strerror}") from None
    try:
        return loads(raw)  # a stranger's file: its depth is bounded before it is parsed
    except ValidationError as exc:
        raise ValidationError(f"{path} is not JSON the verifier reads: {str(exc)[:200]}") from None


def pinned_anchor(anchor: str | None, deployments: Path | None) -> str:
    """The RecordAnchor the verifier checks against, as its user pins it: an address (`--anchor`), or the one a
    node's `deployments/<chain id>.json` (or `chain deploy --json`) records (`--deployments`); exactly one."""
    if anchor is not None and deployments is None:
        return checked_address(anchor)
    if anchor is not None or deployments is None:
        raise ValidationError(
            "pin the network's RecordAnchor: --anchor ADDRESS, or --deployments FILE (a node's "
            "deployments/<chain id>.json you trust), not both; never the address the file itself names"
        )
    raw = read_document(deployments, MAX_DEPLOYMENTS_BYTES)
    entries = raw.values() if isinstance(raw, dict) else raw if isinstance(raw, list) else []
    found = [e for e in entries if isinstance(e, dict) and e.get("name") == ANCHOR_CONTRACT]
    if len(found) != 1 or not isinstance(found[0].get("address"), str):
        raise ValidationError(f"{deployments} records no {ANCHOR_CONTRACT} address (is it a deployments file?)")
    return checked_address(found[0]["address"])


def verify_file(path: Path, rpc_url: str, anchor: str) -> list[Outcome]:
    """Every record in the file at `path` checked against RecordAnchor at `anchor` (pinned by the user, see
    `pinned_anchor`) on the chain behind `rpc_url`; `NotFound` if no contract is at that address there."""
    document = read_document(path)
    reader = AnchorReader.over_http(rpc_url, anchor)
    if not reader.has_code():
        raise NotFound(f"no contract at {reader.contract} on the chain behind {rpc_url[:80]}: is it that network's?")
    return verify_document(document, reader)


def verify_document(document: Any, reader: AnchorReader) -> list[Outcome]:
    """Every record a Bundle (or a `$verify` Parameters) carries, checked against the pinned RecordAnchor the
    reader reads: a proof naming another contract fails as `wrong contract`."""
    carried = list(_carried(document))
    if not carried:
        raise ValidationError("the file carries no records to verify")
    chain = _Chain(reader)
    return [_verify(one, chain) for one in carried]


def _carried(document: Any) -> Iterator[_Carried]:
    """The records of a Bundle (each entry's resource and proof extension) or of a `$verify` Parameters."""
    kind = document.get("resourceType") if isinstance(document, dict) else None
    if kind == "Bundle":
        entries = document.get("entry", [])
        if not isinstance(entries, list):
            raise ValidationError("the Bundle's entry is not a list")
        for index, entry in enumerate(entries):
            yield _entry(index, entry)
    elif kind == "Parameters":
        yield _parameters(document)
    else:
        raise ValidationError("the file is not a FHIR Bundle, nor the Parameters `$verify` answers")


def _name_of(resource: Any, fallback: str) -> str:
    try:
        return str(named(resource))
    except ValidationError:
        return fallback


def _entry(index: int, entry: Any) -> _Carried:
    if not isinstance(entry, dict) or not isinstance(entry.get("resource"), dict):
        return _Carried(f"entry {index}", None, None, MALFORMED, "the entry has no resource")
    resource = entry["resource"]
    name = _name_of(resource, str(entry.get("fullUrl") or f"entry {index}"))
    extensions = entry.get("extension", [])
    if not isinstance(extensions, list):
        return _Carried(name, resource, None, MALFORMED_PROOF, "the entry's extension is not a list")
    found = [e for e in extensions if isinstance(e, dict) and e.get("url") == PROOF_URL]
    if not found:
        return _Carried(name, resource, None)
    if len(found) > 1:
        return _Carried(name, resource, None, MALFORMED_PROOF, "the entry has more than one proof")
    try:
        return _Carried(name, resource, RecordProof.from_extension(found[0]))
    except ValidationError as exc:
        return _Carried(name, resource, None, MALFORMED_PROOF, str(exc))


def _parameters(document: dict[str, Any]) -> _Carried:
    parameters = document.get("parameter")
    by_name = {p.get("name"): p for p in parameters if isinstance(p, dict)} if isinstance(parameters, list) else {}
    record = by_name.get("record", {}).get("resource")
    if not isinstance(record, dict):
        raise ValidationError("the Parameters carry no record resource (a `$verify` answer has one)")
    name = _name_of(record, "the record")
    if "proof" not in by_name:
        return _Carried(name, record, None)
    try:
        return _Carried(name, record, RecordProof.from_parts(by_name["proof"].get("part")))
    except ValidationError as exc:
        return _Carried(name, record, None, MALFORMED_PROOF, str(exc))


class _Chain:
    """The pinned contract's answers, asked once per root and per anchorer however many records share them."""

    def __init__(self, reader: AnchorReader) -> None:
        self.reader = reader
        self._chain_id: int | None = None
        self._batches: dict[bytes, ChainBatch | None] = {}
        self._anchorings: dict[bytes, tuple[int, str] | None] = {}
        self._anchorers: dict[str, bool] = {}

    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = self.reader.chain_id()
        return self._chain_id

    def batch(self, root: bytes) -> ChainBatch | None:
        if root not in self._batches:
            self._batches[root] = self.reader.batch(root)
        return self._batches[root]

    def anchoring(self, root: bytes, near: int | None) -> tuple[int, str] | None:
        """The block and transaction of the root's event; None where the endpoint will not search its logs (some
        refuse a range this wide): the root is on chain all the same, `batch` said so."""
        if root not in self._anchorings:
            try:
                self._anchorings[root] = self.reader.anchoring(root, near)
            except ChainUnavailable:
                self._anchorings[root] = None
        return self._anchorings[root]

    def is_anchorer(self, address: str) -> bool:
        if address not in self._anchorers:
            self._anchorers[address] = self.reader.is_anchorer(address)
        return self._anchorers[address]


def _verify(carried: _Carried, chain: _Chain) -> Outcome:
    """One record's steps, in order; the first failure is its outcome."""
    name = carried.name

    def failed(problem: str, detail: str) -> Outcome:
        return Outcome(name, False, problem, detail)

    if carried.proof is None:
        return failed(carried.problem, carried.detail)
    proof = carried.proof
    try:
        record = named(carried.resource)
        cid = ciphertext_id(carried.resource, record, proof)
        leaf = commitment_of(record, proof, cid)
    except CareLedgerError as exc:
        return failed(MALFORMED, str(exc))
    if leaf != proof.commitment:
        why = "the record's content does not give the commitment its proof names"
        if proof.cid and cid != proof.cid:
            why += f" (its bytes give content id {cid}, the proof names {proof.cid})"
        return failed(COMMITMENT_MISMATCH, why)
    anchor = proof.anchor
    if anchor is None:
        return failed(NOT_ANCHORED, "the proof names no anchored batch: export it again once the node has anchored it")
    if root_of(proof, leaf) != anchor.root:
        return failed(PATH_MISMATCH, f"the Merkle path does not lead from the commitment to root 0x{anchor.root.hex()}")
    if anchor.contract.lower() != chain.reader.contract.lower():
        return failed(
            WRONG_CONTRACT,
            f"the proof names a RecordAnchor at {anchor.contract}, not the network's at {chain.reader.contract}: "
            "anyone can deploy a contract of their own and anchor a forged record's root there",
        )
    served = chain.chain_id()
    if served != anchor.chain_id:
        return failed(WRONG_CHAIN, f"the proof is for chain {anchor.chain_id}, the endpoint serves chain {served}")
    batch = chain.batch(anchor.root)
    if batch is None or batch.kind != KIND_RECORDS:
        where = f"RecordAnchor at {chain.reader.contract} on chain {served}"
        return failed(ROOT_NOT_ON_CHAIN, f"{where} holds no batch of records under root 0x{anchor.root.hex()}")
    if not chain.reader.verify(anchor.root, proof.siblings, leaf):
        return failed(PATH_MISMATCH, "RecordAnchor's own verify refuses the path")
    found = chain.anchoring(anchor.root, anchor.block)
    block, transaction = found if found is not None else (None, None)
    at = datetime.fromtimestamp(batch.timestamp, UTC)
    holds = chain.is_anchorer(batch.anchorer)
    where = f"block {block}" if block is not None else "a block whose event the endpoint no longer serves"
    by = f"by {batch.anchorer}" + ("" if holds else ", which no longer holds ANCHORER_ROLE (revoked since)")
    detail = f"anchored in batch 0x{anchor.root.hex()} ({batch.leaf_count} records) at {where}, {at:%Y-%m-%d %H:%M:%S}Z"
    return Outcome(name, True, None, f"{detail}, {by}", anchor.root, block, transaction, at, batch.anchorer, holds)
