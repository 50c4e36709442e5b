"""Deploy CareLedger's contracts once per chain and remember where they are.

Addresses are recorded per chain id in the home (`deployments/<chain id>.json`, each with
its ABI). A
contract is deployed again only when its init code changed or its address holds no code
any more (a chain that was reset), so `chain deploy` twice deploys once. The Council is not
deployed by `chain deploy`: `governance bootstrap` deploys it with the arguments it is
given (its members, threshold, delay), which its record keeps.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eth_utils import keccak, to_checksum_address

from careledger.chain._signer import Signer, TxRequest
from careledger.contracts import Artifact, contract_names, load_artifact
from careledger.errors import ChainError, NotFound, ValidationError
from careledger.files import write_atomically

if TYPE_CHECKING:
    from careledger.chain._chain import Chain


@dataclass(frozen=True, slots=True)
class Deployment:
    """Where one contract lives on one chain, and which init code put it there."""

    name: str
    address: str
    init_code_hash: str
    tx_hash: str
    block: int
    # The constructor's arguments, for a contract deployed with arguments given (the Council).
    args: list[Any] = field(default_factory=list)

    @classmethod
    def from_json(cls, entry: dict[str, Any]) -> Deployment:
        """A deployment from its `deployments/<chain id>.json` entry (other keys, such as the ABI, ignored);
        `KeyError` for a missing field."""
        return cls(**{name: entry[name] for name in cls.__dataclass_fields__ if name != "args" or name in entry})


@dataclass(frozen=True, slots=True)
class DeployResult:
    deployment: Deployment
    deployed_now: bool


class Deployer:
    """Deploys and finds contracts on one chain; records live in `records_dir` if given."""

    def __init__(self, chain: Chain, records_dir: Path | None) -> None:
        self.chain = chain
        self._file = records_dir / f"{chain.chain_id}.json" if records_dir else None
        self._records: dict[str, Deployment] = self._load()
        # Deployments already checked against the chain in this process: building a facade
        # is then a dictionary lookup, not a compile-cache read, a hash and an eth_getCode.
        self._checked: dict[str, Deployment] = {}

    def _load(self) -> dict[str, Deployment]:
        if self._file is None or not self._file.is_file():
            return {}
        raw: dict[str, dict[str, Any]] = json.loads(self._file.read_text())
        return {name: Deployment.from_json(entry) for name, entry in raw.items()}

    def _save(self) -> None:
        # Each entry carries its contract's ABI, so cast, ethers or viem can call it from this file alone.
        if self._file is not None:
            body = {name: {**asdict(d), "abi": load_artifact(name).abi} for name, d in sorted(self._records.items())}
            write_atomically(self._file, json.dumps(body, indent=2).encode())

    def current(self, name: str) -> Deployment | None:
        """The recorded deployment if it matches today's init code and its code exists."""
        if name in self._checked:
            return self._checked[name]
        record = self._records.get(name)
        args = self._constructor_args(name, record)
        if record is None or args is None or record.init_code_hash != _init_code_hash(load_artifact(name), args):
            return None
        if not self.chain.w3.eth.get_code(to_checksum_address(record.address)):
            return None
        self._checked[name] = record
        return record

    def address(self, name: str) -> str:
        """The address of a deployed contract; `NotFound` tells how to deploy it."""
        record = self.current(name)
        if record is None:
            raise NotFound(
                f"{name} is not deployed on chain {self.chain.chain_id} (or its code changed); "
                "run `careledger chain deploy`"
            )
        return record.address

    def adopt(self, records: list[Deployment]) -> list[Deployment]:
        """Take another node's deployments on this chain as ours (joining a network); those that check out.

        A deployment counts only if its code is on this chain and is what this package's
        sources with those constructor arguments produce, so a wrong or stale file adopts
        nothing it cannot prove.
        """
        known = set(contract_names())
        unknown = sorted(r.name for r in records if r.name not in known)
        if unknown:
            raise NotFound(f"no contract named {', '.join(unknown)} in this version of CareLedger")
        self._records.update({r.name: r for r in records})
        self._checked.clear()
        current = self.deployments()
        self._records = {d.name: d for d in current}
        self._save()
        return current

    def deployments(self) -> list[Deployment]:
        """Every contract this package ships that is deployed and current on this chain."""
        return [d for name in deployment_order() if (d := self.current(name)) is not None]

    def deploy(self, signer: Signer, name: str, given: tuple[Any, ...] | None = None) -> DeployResult:
        """Deploy `name` unless an identical deployment is already on chain; `given` are the constructor's
        arguments of a contract that takes them from its deployer (the Council)."""
        existing = self.current(name)
        if existing is not None and (given is None or list(given) == existing.args):
            return DeployResult(existing, deployed_now=False)
        args = given if name in GIVEN_ARGUMENTS else self._constructor_args(name)
        if args is None and name in GIVEN_ARGUMENTS:
            raise ValidationError(f"{name} is deployed with the arguments it is given (`governance bootstrap`)")
        if args is None:
            raise NotFound(f"deploy {', '.join(_CONSTRUCTOR_CONTRACTS[name])} before {name}")
        artifact = load_artifact(name)
        receipt = signer.transact(TxRequest(data=_init_code(artifact, args)))
        address = receipt.contract_address
        if address is None:
            raise ChainError(f"deploying {name} produced no contract address")
        record = Deployment(
            name=name,
            address=str(address),
            init_code_hash=_init_code_hash(artifact, args),
            tx_hash=receipt.tx_hash.to_0x_hex(),
            block=receipt.block,
            args=list(args) if name in GIVEN_ARGUMENTS else [],
        )
        self._records[name] = record
        self._checked[name] = record
        self._save()
        return DeployResult(record, deployed_now=True)

    def deploy_all(self, signer: Signer) -> list[DeployResult]:
        """Deploy every contract but those deployed with arguments given, each after the contracts its
        constructor names."""
        return [self.deploy(signer, name) for name in deployment_order() if name not in GIVEN_ARGUMENTS]

    def _constructor_args(self, name: str, record: Deployment | None = None) -> tuple[Any, ...] | None:
        """The addresses `name`'s constructor takes, or None while one is not deployed; for a contract deployed
        with arguments given, those its record keeps."""
        if name in GIVEN_ARGUMENTS:
            return None if record is None else tuple(record.args)
        dependencies = [self.current(dependency) for dependency in _CONSTRUCTOR_CONTRACTS.get(name, ())]
        if any(dependency is None for dependency in dependencies):
            return None
        return tuple(dependency.address for dependency in dependencies if dependency is not None)


def deployment_order() -> list[str]:
    """Every contract, each after those its constructor names (by depth, then name, so the order is stable)."""
    return sorted(contract_names(), key=lambda name: (_depth(name), name))


def _depth(name: str) -> int:
    """0 for a contract whose constructor names none, else one more than the deepest it names."""
    return max((1 + _depth(dependency) for dependency in _CONSTRUCTOR_CONTRACTS.get(name, ())), default=0)


# Contracts deployed with the constructor arguments they are given, by the command that needs them.
GIVEN_ARGUMENTS = frozenset({"Council"})

# Constructor arguments that are the addresses of other contracts of this package.
_CONSTRUCTOR_CONTRACTS = {
    "Claims": ("IdentityRegistry",),
    "ConsentRegistry": ("IdentityRegistry",),
    "ModelRegistry": ("Research",),
    "Research": ("IdentityRegistry", "CareToken"),
    "Trials": ("IdentityRegistry", "CareToken", "RecordAnchor"),
    "VisitEscrow": ("CareToken",),
}


def _init_code(artifact: Artifact, args: tuple[Any, ...]) -> bytes:
    constructor = next((item for item in artifact.abi if item.get("type") == "constructor"), None)
    if constructor is None or not constructor.get("inputs"):
        return artifact.bytecode
    types = [item["type"] for item in constructor["inputs"]]
    from eth_abi import encode

    return artifact.bytecode + encode(types, list(args))


def _init_code_hash(artifact: Artifact, args: tuple[Any, ...]) -> str:
    return "0x" + keccak(_init_code(artifact, args)).hex()
