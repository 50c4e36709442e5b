"""A small client of a CareLedger node's FHIR API: Sign-In with Ethereum, CRUD, search.

The CLI uses it when `--node URL` is given, so the same commands work against a remote
node; errors come back as the node's own CareLedger errors (an OperationOutcome with 403
is `AccessDenied`, 410 is `Gone`, …), carrying the node's message.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
from eth_account.messages import encode_defunct

from careledger.errors import NodeUnreachable, ValidationError, error_for_status
from careledger.fhir import fhir_instant, loads, loads_object

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

Resource = dict[str, Any]


class FhirClient:
    """One signed-in session with a node."""

    def __init__(self, base_url: str, *, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout)

    def login(self, account: LocalAccount) -> str:
        """Sign in as `account` (SIWE); the address the node signed in (a claimed identity's, for its wallet)."""
        message, signature = self._signed_in(account)
        token = self._json("POST", "/auth/login", json={"message": message, "signature": signature})
        self._http.headers["Authorization"] = f"Bearer {token['access_token']}"
        return str(token["address"])

    def claim(self, patient_id: str, code: str, account: LocalAccount, encryption_key: str) -> Resource:
        """Claim the custodial identity of `Patient/{patient_id}` for `account` with the front desk's `code`;
        `encryption_key` is hers as registered on chain (hex). The node's answer (a Parameters resource)."""
        message, signature = self._signed_in(account)
        values = {"code": code, "message": message, "signature": signature, "encryptionKey": encryption_key}
        parameters = [{"name": name, "valueString": value} for name, value in values.items()]
        body = {"resourceType": "Parameters", "parameter": parameters}
        return self._json("POST", f"/Patient/{patient_id}/$claim", json=body)

    def _signed_in(self, account: LocalAccount) -> tuple[str, str]:
        """A SIWE message for this node with a fresh nonce, and `account`'s signature of it."""
        from siwe import SiweMessage  # its grammars take ~0.6 s to build: paid by signing in only

        offer = self._json("GET", "/auth/nonce")
        message = SiweMessage(
            domain=offer["domain"],
            address=account.address,
            statement="Sign in to CareLedger",
            uri=self.base_url,
            version="1",
            chain_id=int(offer["chain_id"]),
            nonce=offer["nonce"],
            issued_at=fhir_instant(datetime.now(UTC), precision="seconds"),
        ).prepare_message()
        return message, "0x" + account.sign_message(encode_defunct(text=message)).signature.hex()

    def create(self, resource: Resource, *, purpose: str | None = None) -> Resource:
        """POST a resource; the resource as stored."""
        return self._json("POST", f"/{resource['resourceType']}", json=resource, purpose=purpose)

    def read(
        self, resource_type: str, record_id: str, *, version: int | None = None, purpose: str | None = None
    ) -> Resource:
        """GET a resource by type and id; `NotFound` if the node will not show it."""
        path = f"/{resource_type}/{record_id}" + (f"/_history/{version}" if version else "")
        return self._json("GET", path, purpose=purpose)

    def update(self, resource: Resource, *, if_match: int | None = None, purpose: str | None = None) -> Resource:
        """PUT a new version of a resource; the resource as stored."""
        headers = {"If-Match": f'W/"{if_match}"'} if if_match is not None else {}
        path = f"/{resource['resourceType']}/{resource['id']}"
        return self._json("PUT", path, json=resource, headers=headers, purpose=purpose)

    def delete(self, resource_type: str, record_id: str) -> None:
        """DELETE a resource."""
        self._send("DELETE", f"/{resource_type}/{record_id}")

    def search(self, resource_type: str, *, purpose: str | None = None, **params: str) -> list[Resource]:
        """Every match, following the Bundle's `next` links."""
        found: list[Resource] = []
        bundle = self._json("GET", f"/{resource_type}", params=params, purpose=purpose)
        while True:
            found.extend(entry["resource"] for entry in bundle.get("entry", []))
            following = next((link["url"] for link in bundle.get("link", []) if link["relation"] == "next"), None)
            if following is None:
                return found
            bundle = self._json("GET", following, purpose=purpose)

    def transaction(self, bundle: Resource) -> Resource:
        """POST a `transaction` or `batch` Bundle; the response Bundle."""
        return self._json("POST", "/", json=bundle)

    def exchange(self, signed_fetch: dict[str, Any]) -> Resource:
        """Ask the node, as custodian, for records under a signed fetch request (no sign-in: the request is signed)."""
        return self._json("POST", "/exchange/fetch", json=signed_fetch)

    def accounting(self, signed_accounting: dict[str, Any]) -> Resource:
        """Ask the node for a patient's accounting under her signed request, sealed to the node she named."""
        return self._json("POST", "/exchange/accounting", json=signed_accounting)

    def deliver(self, signed_delivery: dict[str, Any]) -> Resource:
        """Deliver a message to the node under the sending node's signed delivery; the node's receipt."""
        return self._json("POST", "/exchange/messages", json=signed_delivery)

    def erasure(self, signed_notice: dict[str, Any]) -> Resource:
        """Pass a patient's erasure request on to the node under this node's signed notice; its signed answer."""
        return self._json("POST", "/exchange/erasure", json=signed_notice)

    def study(self, signed_request: dict[str, Any]) -> Resource:
        """Ask the node for a study's release or one aggregate under the sponsor's signed request."""
        return self._json("POST", "/exchange/study", json=signed_request)

    def verification(self, signed_request: dict[str, Any]) -> Resource:
        """Ask the node, a pack's manufacturer, to verify it under this node's signed request; its signed answer."""
        return self._json("POST", "/epcis/verification", json=signed_request)

    def notice(self, document: dict[str, Any]) -> Resource:
        """Hand the node, a shipment's receiver, this node's shipping notice (an EPCISDocument of signed events: no
        sign-in, its signatures and the chain's shipment are what count); what it took."""
        return self._json("POST", "/epcis/notices", json=document)

    def safety_report(self, signed_report: dict[str, Any]) -> Resource:
        """Hand the node, a trial's sponsor's or ethics board's, a site node's signed safety report; what it took."""
        return self._json("POST", "/trials/safety-reports", json=signed_report)

    def trial_definition(self, trial_id: int, version: int) -> Resource:
        """A trial version's definition document, from the node that holds it (its sponsor's): `{trial, version,
        document}`; the caller checks the document's keccak against the chain."""
        return self._json("GET", f"/trials/{trial_id}/definitions/{version}")

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

    def __enter__(self) -> FhirClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _json(self, method: str, path: str, **kwargs: Any) -> Resource:
        return loads_object(self._send(method, path, **kwargs).content, what=f"the node's answer to {method} {path}")

    def _send(self, method: str, path: str, *, purpose: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        if purpose:
            headers["X-Purpose-Of-Use"] = purpose
        try:
            response = self._http.request(method, path, headers=headers, **kwargs)
        except httpx.TransportError as exc:
            raise NodeUnreachable(f"cannot reach the node at {self.base_url}: {exc}") from None
        if response.status_code >= 400:
            raise error_for_status(response.status_code)(_diagnostics(response))
        return response


def _diagnostics(response: httpx.Response) -> str:
    """Why the node refused: an OperationOutcome's diagnostics, or an RFC 7807 problem's detail (else its title), as
    the EPCIS routes answer; else the status line."""
    try:
        body = loads(response.content)
    except ValidationError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("issue"), list):
        said = [str(issue.get("diagnostics", "")) for issue in body["issue"] if isinstance(issue, dict)]
        return "; ".join(said) or response.reason_phrase
    if isinstance(body, dict):
        problem = next((body[k] for k in ("detail", "title") if isinstance(body.get(k), str) and body[k]), None)
        if problem is not None:
            return str(problem)
    return f"{response.status_code} {response.reason_phrase}"
