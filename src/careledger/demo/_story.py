"""The demo's story, step by step; each step checks that what happened is what should have.

A step returns the lines that narrate it and the data `--json` prints; one that sees
anything unexpected raises `DemoFailed`, and the story stops there (later steps build on
earlier ones). The expectations are the point: the demo exits 0 only if consent was
honoured, refusals refused, tampering impossible to hide and nothing lost.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from eth_account import Account

from careledger.access import AFFILIATION
from careledger.audit import Entry
from careledger.chain import Role
from careledger.client import FhirClient
from careledger.config import NODE_WALLET
from careledger.consent import Purpose
from careledger.crypto import PrivateKey, Suite
from careledger.demo._network import DemoNetwork, Participant
from careledger.errors import AccessDenied, DemoFailed
from careledger.exchange import FetchResult
from careledger.fhir import systems
from careledger.identity import UnlockedWallet
from careledger.records import Category
from careledger.testdata import hospital_visit

StepData = dict[str, Any]


@dataclass(frozen=True, slots=True)
class StepResult:
    """One step as it went: narrated in `lines`, in `data` for `--json`."""

    name: str
    title: str
    ok: bool
    seconds: float
    lines: tuple[str, ...]
    data: StepData


@dataclass(slots=True)
class _Told:
    """What a step says: lines to narrate and data to report."""

    lines: list[str] = field(default_factory=list)
    data: StepData = field(default_factory=dict)

    def say(self, line: str) -> None:
        self.lines.append(line)


def expect(condition: bool, problem: str) -> None:
    """Stop the story with `problem` unless `condition` holds."""
    if not condition:
        raise DemoFailed(problem)


# Which step leaves each node with writes not yet anchored: where `--kill NODE` strikes.
KILL_AFTER = {"hospital": "encounter", "clinic": "fetch", "agent": "pull"}


class Story:
    """The walk-through over a started `DemoNetwork`."""

    def __init__(self, network: DemoNetwork, passphrase: str, *, kill: str | None = None) -> None:
        self.network = network
        self.hospital = network["hospital"]
        self.clinic = network["clinic"]
        self.agent = network["agent"]
        self.kill = kill
        self._passphrase = passphrase
        self._visit: dict[str, list[str]] = {}
        self._grant_id = 0
        self._names: dict[str, str] = {p.address: p.label for p in network.participants}

    def steps(self) -> Iterator[tuple[str, str, Callable[[_Told], None]]]:
        """(name, title, run) for every step, the crash inserted where `kill` asks."""
        story: list[tuple[str, str, Callable[[_Told], None]]] = [
            ("identities", "Identities registered on chain", self.identities),
            ("encounter", "The hospital records an encounter", self.encounter),
            ("consent", "Alice signs a gasless consent", self.consent),
            ("fetch", "The clinic fetches alice's labs", self.fetch),
            ("denied-mental-health", "The clinic asks for the mental-health note", self.denied_mental_health),
            ("revoke", "Alice revokes her consent", self.revoke),
            ("denied-after-revoke", "The clinic asks again", self.denied_after_revoke),
            ("accounting", "Alice's accounting of disclosures", self.accounting),
            ("pull", "Alice's agent pulls all her records", self.pull),
            ("walk-in", "A patient without a wallet claims her identity", self.walk_in),
            ("verify", "Every record verified against the chain", self.verify),
        ]
        for name, title, run in story:
            yield name, title, run
            if self.kill is not None and KILL_AFTER[self.kill] == name:
                victim = self.network[self.kill]
                yield "crash", f"{victim.label.capitalize()}'s node is killed and started again", self._crash(victim)

    def run(self, starting: Callable[[str], None], report: Callable[[StepResult], None]) -> list[StepResult]:
        """Every step in order until one misbehaves; each announced by title, and reported as it ends."""
        results: list[StepResult] = []
        for name, title, run in self.steps():
            starting(title)
            told = _Told()
            started = time.monotonic()
            try:
                self._check_alive()
                run(told)
                ok = True
            except Exception as exc:
                told.say(f"{type(exc).__name__}: {exc}")
                told.data["error"] = str(exc)
                ok = False
            result = StepResult(name, title, ok, time.monotonic() - started, tuple(told.lines), told.data)
            results.append(result)
            report(result)
            if not ok:
                break
        return results

    # The steps --------------------------------------------------------------------

    def identities(self, told: _Told) -> None:
        """The nodes registered as they joined; now a practitioner and the patient, each by themself."""
        drbob = self.hospital.node.wallets.create("drbob", Role.PRACTITIONER, self._passphrase, Suite.MLKEM768_X25519)
        self.hospital.node.contracts.identity_registry(as_wallet="drbob").register(drbob.role, drbob.encryption_key)
        hospital_registry = self.hospital.node.contracts.identity_registry(as_wallet=NODE_WALLET)
        expires = self.network.chain.timestamp() + 365 * 86_400
        hospital_registry.attest(drbob.address, "medical-licence", expires)
        hospital_registry.attest(drbob.address, AFFILIATION, expires)  # the hospital's care team
        alice = self.agent.node.wallets.create("alice", Role.PATIENT, self._passphrase)
        self.agent.node.contracts.identity_registry(as_wallet="alice").register(alice.role, alice.encryption_key)
        self._names.update({drbob.address: "drbob", alice.address: "alice"})

        registry = self.hospital.node.contracts.identity_registry()
        expected = [
            *((p.label, p.address, Role.ORG) for p in self.network.participants),
            ("drbob", drbob.address, Role.PRACTITIONER),
            ("alice", alice.address, Role.PATIENT),
        ]
        for label, address, role in expected:
            actor = registry.actor(address)
            if actor is None or not actor.active or actor.role is not role:
                raise DemoFailed(f"{label} is not registered as {role}")
            where = f", endpoint {actor.endpoint}" if actor.endpoint else ""
            told.say(f"{label:<14} {address}  {role.name.lower()}{where}")
            told.data[label] = {"address": address, "role": role.name.lower(), "endpoint": actor.endpoint}
        licensed = registry.has_valid_credential(drbob.address, "medical-licence")
        expect(licensed, "drbob's medical licence is not valid")
        told.say("drbob's medical licence attested by the hospital: valid; his encryption key is post-quantum")
        on_team = registry.has_valid_credential(drbob.address, AFFILIATION)
        expect(on_team, "drbob's affiliation with the hospital is not valid")
        told.say("drbob is on the hospital's care team (an affiliation it attested): he treats its patients")
        told.data["licensed"] = licensed
        told.data["care_team"] = on_team

    def encounter(self, told: _Told) -> None:
        """drbob's EHR sends the visit to the hospital's FHIR API as one transaction."""
        drbob = self.hospital.node.unlock("drbob")
        alice = self._alice()
        with FhirClient(self.hospital.process.url) as client:
            client.login(drbob.account)
            response = client.transaction(hospital_visit(alice.account.address, self.network.chain.chain_id))
        created = [entry["response"]["location"].split("/_history")[0] for entry in response["entry"]]
        expect(all(e["response"]["status"].startswith("201") for e in response["entry"]), "not every entry was created")
        stored = [self.hospital.node.maintenance.get(ref.split("/")[1]) for ref in created]
        by_category: dict[str, list[str]] = {}
        for record in stored:
            expect(record.patient_address == alice.account.address, f"{record.record_id} is not alice's record")
            by_category.setdefault(record.category.value, []).append(f"{record.resource_type}/{record.record_id}")
        expect(len(by_category.get("labs", [])) == 5, "the visit should hold five lab records")
        expect(len(by_category.get("mental-health", [])) == 1, "the visit should hold one mental-health note")
        self._visit = by_category
        told.say("drbob signed in (SIWE) to the hospital's FHIR API and sent one transaction Bundle:")
        told.say(f"{len(stored)} records created, each encrypted, stored and queued for anchoring")
        for category, references in sorted(by_category.items()):
            told.say(f"  {category:<14} {', '.join(r.split('/')[0] for r in references)}")
        told.data.update(records=created, by_category=by_category)

    def consent(self, told: _Told) -> None:
        """alice signs EIP-712 terms on her device; the clinic submits them and pays the gas."""
        alice = self._alice()
        chain = self.network.chain
        balance, nonce = chain.balance(alice.account.address), chain.transaction_count(alice.account.address)
        terms = self.agent.node.consent.terms(
            alice.account.address, self.clinic.address, [Category.LABS], [Purpose.TREAT], days=30
        )
        signed = self.agent.node.consent.sign(alice.account, terms)
        grant = self.clinic.node.consent.submit(NODE_WALLET, signed)
        self._grant_id = grant.grant_id
        spent = balance - chain.balance(alice.account.address)
        expect(
            spent == 0 and chain.transaction_count(alice.account.address) == nonce,
            "alice paid for her consent",
        )
        expect(grant.covers(Category.LABS, Purpose.TREAT), "the grant does not cover labs for treatment")
        expect(not grant.covers(Category.MENTAL_HEALTH, Purpose.TREAT), "the grant covers mental health")
        told.say(
            f"consent {_short(grant.hex_id)}: the clinic may read alice's labs for TREAT until {_day(grant.expiry)}"
        )
        told.say("signed by alice (EIP-712) on her device, submitted by the clinic: alice spent 0 wei")
        told.data.update(grant=grant.hex_id, expiry=grant.expiry, patient_spent_wei=spent)

    def fetch(self, told: _Told) -> None:
        """The clinic fetches alice's labs from the hospital and verifies each against the chain."""
        result = self._clinic_fetch([Category.LABS])
        fetched = sorted(f"{s.resource_type}/{s.record_id}" for s in result.stored)
        expect(fetched == sorted(self._visit["labs"]), f"the clinic got {fetched}, not the visit's labs")
        expect(not result.withheld, f"the hospital withheld {result.withheld}")
        told.say(f"{len(result.stored)} lab records from the hospital's node, re-sealed to the clinic's key;")
        told.say("content ids, commitments, Merkle proofs and anchored roots checked on chain, then stored")
        told.say(f"with where they came from: Provenance/{result.provenance_id}")
        told.data.update(records=fetched, provenance=result.provenance_id)

    def denied_mental_health(self, told: _Told) -> None:
        """The clinic is refused alice's mental-health note: her consent names labs only."""
        self._expect_denied(told, [Category.MENTAL_HEALTH], "a labs consent does not reach a PSY-labelled note")

    def revoke(self, told: _Told) -> None:
        """A revoke is alice's own transaction; nodes honour it from the next block."""
        self.agent.node.consent.sync()
        grant = self.agent.node.consent.revoke("alice", self._grant_id)
        expect(grant.revoked, "the consent is not revoked")
        told.say(f"consent {_short(grant.hex_id)} revoked by alice's own transaction")
        told.data["grant"] = grant.hex_id

    def denied_after_revoke(self, told: _Told) -> None:
        """After alice revokes, the clinic is refused her labs too."""
        self._expect_denied(told, [Category.LABS], "the consent is revoked")

    def accounting(self, told: _Told) -> None:
        """What the hospital did with alice's records, from its hash-chained audit log."""
        entries = self.hospital.node.audit.entries(patient=self._alice().account.address)
        shares = [e for e in entries if e.access.interaction == "share"]
        outcomes = [(self._name(e.access.agent), e.access.allowed) for e in shares]
        wanted = [("the clinic", True), ("the clinic", False), ("the clinic", False)]
        expect(outcomes == wanted, f"the hospital's disclosures to the clinic were {outcomes}, not {wanted}")
        told.say(f"{'when (UTC)':<20} {'who':<12} {'what':<22} {'purpose':<8} outcome")
        for entry in entries:
            told.say(self._disclosure_line(entry))
        told.say("what was disclosed before the revoke stays disclosed; the log says so")
        told.data["entries"] = [
            {
                "seq": e.seq,
                "recorded": e.recorded_at.isoformat(),
                "agent": e.access.agent,
                "interaction": e.access.interaction,
                "purpose": e.access.purpose,
                "allowed": e.access.allowed,
                "records": len(e.access.entities),
                "detail": e.access.detail,
            }
            for e in entries
        ]

    def pull(self, told: _Told) -> None:
        """alice's agent asks the hospital for everything (PATRQT); her phone then reads from her agent."""
        alice = self._alice()
        (result,) = self.agent.node.requester.pull(alice.account, alice.encryption_key(), [self.hospital.address])
        everything = sorted(ref for refs in self._visit.values() for ref in refs)
        pulled = sorted(f"{s.resource_type}/{s.record_id}" for s in result.stored)
        expect(pulled == everything, f"the agent got {pulled}, not all {len(everything)} records")
        note = self._visit["mental-health"][0]
        with FhirClient(self.agent.process.url) as client:
            client.login(alice.account)
            resource = client.read(*note.split("/"))
        text = base64.b64decode(resource["content"][0]["attachment"]["data"]).decode()
        expect("depressive" in text, "alice's agent did not serve her note")
        told.say(f"{len(result.stored)} records from the hospital, mental-health note included, verified and kept")
        told.say(f"alice signed in to her agent's API and read her note: “{text.split('.')[0]}.”")
        told.data.update(records=pulled, provenance=result.provenance_id)

    def walk_in(self, told: _Told) -> None:
        """Registered at the front desk with no wallet; later she claims her identity and consents herself."""
        hospital = self.hospital.node
        with FhirClient(self.hospital.process.url) as ehr:
            ehr.login(hospital.unlock("drbob").account)
            patient = ehr.create(
                {
                    "resourceType": "Patient",
                    "name": [{"family": "Okafor", "given": ["Ngozi"]}],
                    "birthDate": "1984-07-12",
                    "identifier": [{"system": "urn:oid:2.16.840.1.113883.19.5", "value": "MRN-20417"}],
                }
            )
            pulse = ehr.create(
                {
                    "resourceType": "Observation",
                    "status": "final",
                    "category": [{"coding": [{"system": systems.OBSERVATION_CATEGORY, "code": "vital-signs"}]}],
                    "code": {"coding": [{"system": systems.LOINC, "code": "8867-4", "display": "Heart rate"}]},
                    "subject": {"reference": f"Patient/{patient['id']}"},
                    "valueQuantity": {"value": 64, "unit": "beats/minute"},
                }
            )
        identity = hospital.maintenance.get(patient["id"]).patient_address
        expect(
            hospital.contracts.identity_registry().custodian_of(identity) == self.hospital.address,
            "no custodial identity",
        )
        self._names[identity] = "ngozi"
        told.say(f"drbob registered Ngozi (name, birth date, MRN; no wallet): identity {identity},")
        told.say("its key held by the hospital, sealed under the node's key-encryption key; a pulse recorded")
        issued = hospital.claiming.issue(identity)
        told.say(f"the front desk prints her one-time claim code: {issued.code}")

        wallet = Account.create()  # in her phone's wallet app: no node ever holds this key
        key = PrivateKey.derive(wallet.key).public_key.to_bytes().hex()
        with FhirClient(self.hospital.process.url) as phone:
            try:
                phone.claim(patient["id"], "0000-0000-0000", wallet, key)
                raise DemoFailed("a wrong claim code was accepted")
            except AccessDenied as exc:
                told.say(f"a mistyped code is refused and audited: “{exc}”")
            answer = phone.claim(patient["id"], issued.code, wallet, key)
            resealed = next(p["valueInteger"] for p in answer["parameter"] if p["name"] == "resealed")
            expect(phone.login(wallet) == identity, "her wallet did not sign in as her")
            read = phone.read("Observation", pulse["id"])
        expect(read["valueQuantity"]["value"] == 64, "she could not read her pulse")
        expect(not hospital.custodial.holds(identity), "the hospital still holds her key")
        told.say(f"she claimed it with her wallet {wallet.address} (SIWE): {resealed} record versions")
        told.say("re-sealed to her key, the custodial key deleted; signed in, she reads her pulse")

        clinic = self.clinic.node  # submits it and pays the gas, as for alice's
        terms = clinic.consent.terms(identity, self.clinic.address, [Category.LABS], [Purpose.TREAT], days=30)
        grant = clinic.consent.submit(NODE_WALLET, clinic.consent.sign(wallet, terms))
        expect(grant.granted_by == wallet.address, "the consent was not hers")
        told.say(f"consent {_short(grant.hex_id)} to the clinic for her labs: signed by her wallet, not the hospital")
        told.data.update(
            identity=identity, wallet=wallet.address, resealed=resealed, grant=grant.hex_id, code=issued.code
        )

    def verify(self, told: _Told) -> None:
        """The servers stop (anchoring what is pending); then every record and audit log is checked."""
        codes = self.network.stop()
        expect(all(code == 0 for code in codes.values()), f"a node did not stop cleanly: {codes}")
        told.say("the three nodes stopped gracefully, anchoring what was pending; then, on every node,")
        told.say("every record: content id, decryption, commitment, anchored root, Merkle proof;")
        told.say("the audit log: its hash chain, and its heads against the chain")
        for participant in self.network.participants:
            node = participant.node
            anchor = node.contracts.record_anchor()
            records = node.maintenance.listing()
            for stored in records:
                failed = [c for c in node.verify_record(stored.record_id) if not c.ok]
                expect(not failed, f"{participant.label}: {stored.record_id} failed {failed[0].step if failed else ''}")
            audit = node.audit.verify(anchor)
            expect(audit.ok, f"{participant.label}'s audit log: {'; '.join(audit.problems)}")
            told.say(
                f"  {participant.label:<14} {len(records):>2} records ✓   audit log of {audit.entries} entries ✓ "
                f"({audit.anchored_heads} head{'s' if audit.anchored_heads != 1 else ''} anchored)"
            )
            told.data[participant.name] = {"records": len(records), "audit_entries": audit.entries}

    def _crash(self, victim: Participant) -> Callable[[_Told], None]:
        def crash(told: _Told) -> None:
            held = victim.node.maintenance.listing()
            before = {(s.record_id, s.version) for s in held}
            waiting = sum(1 for s in held if s.anchored_batch is None)
            victim.process.kill()
            told.say(f"SIGKILL to pid {victim.process.pid}, {waiting} of {len(before)} records not yet anchored")
            victim.process.start()
            after = {(s.record_id, s.version) for s in victim.node.maintenance.listing()}
            expect(after == before, f"records changed across the crash: lost {before - after}")
            told.say(f"started again (pid {victim.process.pid}): all {len(after)} records there")
            told.data.update(node=victim.name, records=len(after), unanchored_at_kill=waiting)

        return crash

    # Helpers ----------------------------------------------------------------------

    def _alice(self) -> UnlockedWallet:
        return self.agent.node.unlock("alice")

    def _clinic_fetch(self, categories: list[Category]) -> FetchResult:
        clinic = self.clinic.node.unlock(NODE_WALLET)
        return self.clinic.node.requester.fetch(
            clinic.account,
            clinic.encryption_key(),
            self.hospital.address,
            self._alice().account.address,
            categories,
            Purpose.TREAT,
        )

    def _expect_denied(self, told: _Told, categories: list[Category], why: str) -> None:
        before = {s.record_id for s in self.clinic.node.maintenance.listing()}
        try:
            self._clinic_fetch(categories)
        except AccessDenied as exc:
            expect(before == {s.record_id for s in self.clinic.node.maintenance.listing()}, "the clinic stored records")
            told.say(f"refused by the hospital: “{exc}”")
            told.say(f"({why}); nothing stored, the refusal audited")
            told.data["refusal"] = str(exc)
            return
        raise DemoFailed(f"the hospital shared {', '.join(c.value for c in categories)} although {why}")

    def _check_alive(self) -> None:
        for participant in self.network.participants:
            if participant.process.pid is not None and not participant.process.running:
                raise DemoFailed(f"{participant.label}'s node died: {participant.process.log_tail()}")

    def _name(self, address: str) -> str:
        return self._names.get(address, address)

    def _disclosure_line(self, entry: Entry) -> str:
        access = entry.access
        what = f"{access.interaction} {len(access.entities)} record(s)" if access.entities else access.interaction
        outcome = "allowed" if access.allowed else f"DENIED: {(access.detail or '').split(':')[0]}"
        when = entry.recorded_at.strftime("%Y-%m-%d %H:%M:%S")
        return f"{when:<20} {self._name(access.agent):<12} {what:<22} {access.purpose or '':<8} {outcome}"


def _short(hex_id: str) -> str:
    return f"{hex_id[:10]}…{hex_id[-4:]}"


def _day(timestamp: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(timestamp))
