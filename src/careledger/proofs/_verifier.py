"""The standalone verifier: an exported file and a JSON-RPC URL, no home, no database, no node.

For each record the file carries (a Bundle's entries with their `PROOF_URL` extension, or a `$verify`
answer's `record` and `proof`), every step is recomputed from the bytes in the file and checked against
the chain, and the first step that fails is named:

1. `commitment mismatch`: the resource's canonical bytes, re-encrypted with the proof's data key and
   nonce, do not give the content id whose salted commitment the proof names (one changed byte does this);
2. `not yet anchored`: the proof names no batch (the node had not anchored the version when it exported);
3. `path mismatch`: the Merkle path does not lead from the commitment to the proof's root;
4. `wrong chain`: the endpoint serves another chain than the proof's;
5. `root not on chain`: RecordAnchor at the proof's address holds no batch of records under that root;
   and the contract's own `verify` must agree with the path.

A record that passes is told with its batch root, block, transaction and the chain's time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from careledger.errors import CareLedgerError, ChainUnavailable, ValidationError
from careledger.fhir import loads
from careledger.proofs._format import PROOF_URL, RecordProof
from careledger.proofs._recompute import ciphertext_id, commitment_of, named, root_of
from careledger.proofs._rpc import KIND_RECORDS, AnchorReader, ChainBatch

MAX_FILE_BYTES = 512 * 1024 * 1024

COMMITMENT_MISMATCH = "commitment mismatch"
NOT_ANCHORED = "not yet anchored"
PATH_MISMATCH = "path mismatch"
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
        }


@dataclass(frozen=True, slots=True)
class _Carried:
    """One record as the file carries it: what names it, its resource, and its proof (or why it has none)."""

    name: str
    resource: Any
    proof: RecordProof | None
    problem: str = NO_PROOF
    detail: str = "the file carries no proof of this record"


def read_document(path: Path) -> Any:
    """The JSON in `path`; `ValidationError` if it cannot be read or is not JSON."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ValidationError(f"{path} is larger than {MAX_FILE_BYTES // 2**20} MiB")
        raw = path.read_bytes()
    except OSError as exc:
        raise ValidationError(f"cannot read {path}: {exc.strerror}") from None
    try:
        return loads(raw)  # a stranger's file: its depth is bounded before it is parsed
    except ValidationError as exc:
        raise ValidationError(f"{path} is not JSON the verifier reads: {str(exc)[:200]}") from None


def verify_file(path: Path, rpc_url: str) -> list[Outcome]:
    """Every record in the file at `path` checked against the chain behind `rpc_url`."""
    document = read_document(path)
    readers: dict[str, AnchorReader] = {}

    def reader(contract: str) -> AnchorReader:
        """The reader of RecordAnchor at `contract` through the endpoint (one per contract the proofs name)."""
        if contract not in readers:
            readers[contract] = AnchorReader.over_http(rpc_url, contract)
        return readers[contract]

    return verify_document(document, reader)


def verify_document(document: Any, reader: Callable[[str], AnchorReader]) -> list[Outcome]:
    """Every record a Bundle (or a `$verify` Parameters) carries, checked through the reader of each contract."""
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
    """The chain's answers, asked once per contract and per root however many records share them."""

    def __init__(self, reader: Callable[[str], AnchorReader]) -> None:
        self._reader = reader
        self._chain_ids: dict[str, int] = {}
        self._batches: dict[tuple[str, bytes], ChainBatch | None] = {}
        self._anchorings: dict[tuple[str, bytes], tuple[int, str] | None] = {}

    def reader(self, contract: str) -> AnchorReader:
        return self._reader(contract)

    def chain_id(self, contract: str) -> int:
        if contract not in self._chain_ids:
            self._chain_ids[contract] = self._reader(contract).chain_id()
        return self._chain_ids[contract]

    def batch(self, contract: str, root: bytes) -> ChainBatch | None:
        if (contract, root) not in self._batches:
            self._batches[contract, root] = self._reader(contract).batch(root)
        return self._batches[contract, root]

    def anchoring(self, contract: str, root: bytes, near: int | None) -> tuple[int, str] | None:
        """The block and transaction of the root's event; None where the endpoint will not search its logs (some
        refuse a range this wide): the root is on chain all the same, `batch` said so."""
        if (contract, root) not in self._anchorings:
            try:
                self._anchorings[contract, root] = self._reader(contract).anchoring(root, near)
            except ChainUnavailable:
                self._anchorings[contract, root] = None
        return self._anchorings[contract, root]


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
    served = chain.chain_id(anchor.contract)
    if served != anchor.chain_id:
        return failed(WRONG_CHAIN, f"the proof is for chain {anchor.chain_id}, the endpoint serves chain {served}")
    batch = chain.batch(anchor.contract, anchor.root)
    if batch is None or batch.kind != KIND_RECORDS:
        where = f"RecordAnchor at {anchor.contract} on chain {served}"
        return failed(ROOT_NOT_ON_CHAIN, f"{where} holds no batch of records under root 0x{anchor.root.hex()}")
    if not chain.reader(anchor.contract).verify(anchor.root, proof.siblings, leaf):
        return failed(PATH_MISMATCH, "RecordAnchor's own verify refuses the path")
    found = chain.anchoring(anchor.contract, anchor.root, anchor.block)
    block, transaction = found if found is not None else (None, None)
    at = datetime.fromtimestamp(batch.timestamp, UTC)
    where = f"block {block}" if block is not None else "a block whose event the endpoint no longer serves"
    detail = f"anchored in batch 0x{anchor.root.hex()} ({batch.leaf_count} records) at {where}, {at:%Y-%m-%d %H:%M:%S}Z"
    return Outcome(name, True, None, detail, anchor.root, block, transaction, at)
