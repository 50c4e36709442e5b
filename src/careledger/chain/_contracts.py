"""The deployed contracts, as facades that read, or sign as one of the node's wallets.

Services take this in their constructors and ask it for the facade they need, signing as
the wallet a face names; faces never see a facade.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from eth_utils import to_checksum_address

from careledger.chain._claims import Claims
from careledger.chain._consent_registry import ConsentRegistry
from careledger.chain._council import Call, Council
from careledger.chain._deployer import Deployer
from careledger.chain._facades import ContractFacade
from careledger.chain._identity_registry import IdentityRegistry
from careledger.chain._model_registry import ModelRegistry
from careledger.chain._record_anchor import RecordAnchor
from careledger.chain._research import Research
from careledger.chain._signer import Signer, TxRequest
from careledger.chain._supply_chain import SupplyChain
from careledger.chain._token import CareToken
from careledger.chain._trials import Trials
from careledger.chain._visit_escrow import VisitEscrow
from careledger.contracts import load_artifact
from careledger.errors import NotFound

if TYPE_CHECKING:
    from careledger.chain._chain import Chain

_Facade = TypeVar("_Facade", bound=ContractFacade)


class Contracts:
    """Facades over this chain's deployment, one per contract, address and wallet for the node's life.

    Building a facade costs web3 ~7 ms, and every request needs one, so they are kept.
    `signer_for(name)` unlocks a wallet of the node only when a facade must sign with it.
    """

    def __init__(self, chain: Chain, deployer: Deployer, signer_for: Callable[[str], Signer], node_wallet: str) -> None:
        self.chain = chain
        self._deployer = deployer
        self._signer_for = signer_for
        self._node_wallet = node_wallet
        self._facades: dict[tuple[str, str, str | None], ContractFacade] = {}
        self._council_address: str | None = None  # found once there is one: a council is never undone

    def record_anchor(self, *, write: bool = False) -> RecordAnchor:
        """RecordAnchor, read-only or (`write`) signing as the node, which holds ANCHORER_ROLE."""
        return self._facade(RecordAnchor, self._node_wallet if write else None)

    def identity_registry(self, *, as_wallet: str | None = None) -> IdentityRegistry:
        """The IdentityRegistry, read-only or signing as one of the node's wallets."""
        return self._facade(IdentityRegistry, as_wallet)

    def consent_registry(self, *, as_wallet: str | None = None) -> ConsentRegistry:
        """The ConsentRegistry, read-only or signing as one of the node's wallets."""
        return self._facade(ConsentRegistry, as_wallet)

    def claims(self, *, as_wallet: str | None = None) -> Claims:
        """The Claims contract, read-only or signing as one of the node's wallets."""
        return self._facade(Claims, as_wallet)

    def research(self, *, as_wallet: str | None = None) -> Research:
        """The Research contract (studies and their escrow), read-only or signing as one of the node's wallets."""
        return self._facade(Research, as_wallet)

    def visit_escrow(self, *, as_wallet: str | None = None) -> VisitEscrow:
        """VisitEscrow (telehealth visit fees), read-only or signing as one of the node's wallets."""
        return self._facade(VisitEscrow, as_wallet)

    def model_registry(self, *, as_wallet: str | None = None) -> ModelRegistry:
        """The ModelRegistry (studies' federated models), read-only or signing as one of the node's wallets."""
        return self._facade(ModelRegistry, as_wallet)

    def supply_chain(self, *, as_wallet: str | None = None) -> SupplyChain:
        """The SupplyChain (medicine packs' custody), read-only or signing as one of the node's wallets; it reads
        logs from the block its deployment record names."""
        record = self._deployer.current(SupplyChain.contract_name)
        return self._facade(SupplyChain, as_wallet, first_block=0 if record is None else record.block)

    def trials(self, *, as_wallet: str | None = None) -> Trials:
        """Trials (clinical trials, their enrolment and milestone payments), read-only or signing as one of the node's
        wallets; it reads logs from the block its deployment record names."""
        record = self._deployer.current(Trials.contract_name)
        return self._facade(Trials, as_wallet, first_block=0 if record is None else record.block)

    def token(self, *, as_wallet: str | None = None, address: str | None = None) -> CareToken:
        """CareToken (or the ERC-20 at `address`), read-only or signing as one of the node's wallets."""
        return self._facade(CareToken, as_wallet, address)

    def council(self, *, as_wallet: str | None = None) -> Council:
        """The Council (after `governance bootstrap`), read-only or signing as one of the node's wallets;
        `NotFound` before."""
        address = self.council_address()
        if address is None:
            raise NotFound("this network has no council yet")
        return self._facade(Council, as_wallet, address)

    def council_address(self) -> str | None:
        """Where this network's council is: the one recorded here by bootstrap, else the CareToken's owner when
        that is a Council (so every member node finds the council without adopting its deployment); None before
        bootstrap."""
        if self._council_address is None:
            recorded = self._deployer.current(Council.contract_name)
            if recorded is not None:
                self._council_address = recorded.address
            else:
                owner = self.token().owner()
                code = bytes(self.chain.w3.eth.get_code(to_checksum_address(owner)))
                if code and code in load_artifact(Council.contract_name).bytecode:
                    self._council_address = owner
        return self._council_address

    def deploy_council(self, members: list[str], threshold: int, delay: int, voting_period: int) -> Council:
        """Deploy the Council with its founding members, signing as the node (`governance bootstrap`)."""
        args = (members, threshold, delay, voting_period)
        self._deployer.deploy(self._signer_for(self._node_wallet), Council.contract_name, args)
        return self.council(as_wallet=self._node_wallet)

    def send(self, calls: list[Call], *, as_wallet: str) -> None:
        """Make `calls` one after the other, signing as one of the node's wallets (what `governance bootstrap`
        does to hand the contracts over); stops at the first that reverts."""
        signer = self._signer_for(as_wallet)
        for call in calls:
            signer.transact(TxRequest(data=call.data, to=call.target, value=call.value))

    def _facade(self, kind: type[_Facade], wallet: str | None, address: str | None = None, **options: Any) -> _Facade:
        address = address or self._deployer.address(kind.contract_name)
        key = (kind.contract_name, address, wallet)
        found = self._facades.get(key)
        if found is None:
            found = kind(self.chain, address, self._signer_for(wallet) if wallet else None, **options)
            self._facades[key] = found
        return cast("_Facade", found)
