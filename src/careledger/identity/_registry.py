"""The IdentityRegistry as the faces use it: register, look up, attest, guard and hand over identities.

Faces name wallets held by this node ("drbob", "node"); this service turns a name into a
facade that signs as that wallet. Nothing here keeps state of its own: the registry on
chain is the truth, read afresh on every call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from careledger.chain import ActorRecord, Credential, IdentityRegistry, Role
from careledger.crypto import PublicKey
from careledger.errors import AccessDenied, Conflict, Unauthenticated
from careledger.identity._wallets import WalletStore

if TYPE_CHECKING:
    from careledger.chain import Chain

_DAY = 86_400
_ORGANIZATIONS = frozenset({Role.ORG, Role.LAB, Role.PHARMACY, Role.INSURER, Role.RESEARCHER})


@dataclass(frozen=True, slots=True)
class ActorProfile:
    """An actor's registration and every credential attested to it, as of the chain's time `now`."""

    actor: ActorRecord
    credentials: tuple[Credential, ...]
    now: int


class IdentityService:
    """Registration, credentials, guardians and wallet hand-over in the IdentityRegistry."""

    def __init__(self, registry: Callable[..., IdentityRegistry], wallets: WalletStore, chain: Chain) -> None:
        """`registry(as_wallet=None)`: the facade, read-only or signing as one of this node's wallets."""
        self._registry = registry
        self._wallets = wallets
        self._chain = chain

    def register(self, wallet: str, endpoint: str = "") -> ActorProfile:
        """Register a wallet held here with its role and encryption key; `Conflict` if it is registered."""
        held = self._wallets.get(wallet)
        if self._registry().actor(held.address) is not None:
            raise Conflict(f"wallet {wallet} ({held.address}) is already registered")
        self._registry(as_wallet=wallet).register(held.role, held.encryption_key, endpoint)
        registered = self.profile(held.address)
        assert registered is not None, "the registration just mined"
        return registered

    def register_for(self, registrar: str, address: str, role: Role, key: PublicKey) -> ActorProfile:
        """Register an actor whose wallet is elsewhere (a device's secure element), signed by the wallet
        `registrar` (it must hold REGISTRAR_ROLE; the node's does); `Conflict` if it is registered."""
        if self._registry().actor(address) is not None:
            raise Conflict(f"{address} is already registered")
        registrar_address = self._wallets.get(registrar).address
        if not self._registry().is_role_holder("REGISTRAR_ROLE", registrar_address):
            raise AccessDenied(f"wallet {registrar} ({registrar_address}) does not hold REGISTRAR_ROLE")
        self._registry(as_wallet=registrar).register_actor(address, role, key)
        registered = self.profile(address)
        assert registered is not None, "the registration just mined"
        return registered

    def profile(self, address: str) -> ActorProfile | None:
        """`address`'s registration and credentials, or None if it never registered."""
        registry = self._registry()
        actor = registry.actor(address)
        if actor is None:
            return None
        return ActorProfile(actor, tuple(registry.credentials_of(address)), self._chain.timestamp())

    def organizations(self) -> list[ActorRecord]:
        """The active organizations a patient may consent to share with: providers, labs, pharmacies, insurers,
        researchers (not people, devices or regulators)."""
        return [a for a in self._registry().actors() if a.role in _ORGANIZATIONS]

    def practitioners(self) -> list[ActorRecord]:
        """The active practitioners registered: whom a patient's page offers to write to (the door still decides
        whether she may)."""
        return [a for a in self._registry().actors() if a.role == Role.PRACTITIONER]

    def acts_as(self, address: str) -> str:
        """The identity a wallet acts for: the custodial identity it claimed, else itself."""
        return self._registry().identity_of(address) or address

    def signs_in_as(self, address: str) -> tuple[str, Role]:
        """Who a wallet that proved its key signs in as, and in which role; `Unauthenticated` if no active actor."""
        acts_as = self.acts_as(address)
        actor = self._registry().actor(acts_as)
        if actor is None or not actor.active:
            raise Unauthenticated(f"{address} is not an active actor in the IdentityRegistry")
        return acts_as, actor.role

    def attest(
        self, issuer: str, subject: str, credential_type: str, *, days: int, revocable: bool = True
    ) -> tuple[Credential, int]:
        """Attest a credential for `days` as the issuing wallet `issuer`; the credential and the chain's time.

        `AccessDenied` if the issuer does not hold ISSUER_ROLE: said before any gas is spent.
        """
        address = self._wallets.get(issuer).address
        if not self._registry().is_role_holder("ISSUER_ROLE", address):
            raise AccessDenied(f"wallet {issuer} ({address}) does not hold ISSUER_ROLE in the IdentityRegistry")
        now = self._chain.timestamp()
        credential = self._registry(as_wallet=issuer).attest(
            subject, credential_type, now + days * _DAY, revocable=revocable
        )
        return credential, now

    def set_guardians(self, wallet: str, identity: str, guardians: Sequence[str], threshold: int) -> None:
        """Name `identity`'s guardians, signed by `wallet`, the wallet that holds it."""
        self._registry(as_wallet=wallet).set_guardians(identity, guardians, threshold)

    def approve_recovery(self, guardian: str, identity: str, new_owner: str) -> tuple[int, int]:
        """One guardian's approval to hand `identity` to `new_owner`: approvals so far, and how many are needed."""
        registry = self._registry(as_wallet=guardian)
        approvals = registry.approve_recovery(identity, new_owner)
        _, needed = registry.guardians_of(identity)
        return approvals, needed

    def hand_over(self, wallet: str, identity: str, new_owner: str) -> None:
        """Hand `identity` to another wallet of its patient, signed by `wallet`, which holds it now."""
        self._registry(as_wallet=wallet).rotate_owner(identity, new_owner)
