"""Remote monitoring: one alert per episode, at the right patient, as a Flag and a Communication."""

from __future__ import annotations

import time

from fhir.resources.R4B.communication import Communication
from fhir.resources.R4B.flag import Flag
from sqlalchemy import delete

from careledger.access import Accessor
from careledger.iot import Accepted, Alert, Monitor, Reading, Rule
from careledger.iot._alerts import _EPISODE
from careledger.shared import Tickets
from careledger.store import Database
from careledger.store.models import Ticket
from tests.iot.conftest import Ward

TACHYCARDIA = Rule("Sustained tachycardia", "8867-4", high=100, lasting=30)


def _monitor(ward: Ward, *rules: Rule, episodes: Tickets | None = None) -> Monitor:
    """A monitor of its own; on the ward's database, whose episodes an earlier test left are forgotten first."""
    if episodes is None:
        with ward.node.db.writing() as connection:
            connection.execute(delete(Ticket).where(Ticket.kind == _EPISODE))
        episodes = ward.node.shared.tickets
    return Monitor(
        ward.node.access, custodian=ward.node.address, episodes=episodes, rules=rules or (TACHYCARDIA,), settle=20
    )


def _beats(ward: Ward, *runs: tuple[float, int]) -> Accepted:
    """Heart-rate readings a second apart: `count` at `value` for each (value, count), ending now."""
    values = [value for value, count in runs for _ in range(count)]
    start = int(time.time() * 1000) - len(values) * 1000
    readings = tuple(Reading(i + 1, start + i * 1000, "8867-4", ((v, "/min"),)) for i, v in enumerate(values))
    return Accepted(
        ward.watch.address, ward.watch.device_record, ward.alice.address, str(ward.watch.patient_record), readings
    )


def test_a_sustained_episode_alerts_once_and_a_second_episode_again(ward: Ward) -> None:
    monitor = _monitor(ward)
    alerts = monitor.observe([_beats(ward, (72, 10), (140, 60), (72, 40), (145, 45), (70, 5))])
    assert [alert.rule for alert in alerts] == ["Sustained tachycardia"] * 2
    assert all(alert.patient == ward.alice.address for alert in alerts)


def test_a_breach_shorter_than_the_rule_does_not_alert(ward: Ward) -> None:
    assert _monitor(ward).observe([_beats(ward, (72, 10), (140, 20), (72, 30))]) == []


def test_a_rate_hovering_at_the_limit_is_one_episode(ward: Ward) -> None:
    runs = [(72, 5), (140, 40)] + [(99, 5), (130, 5)] * 6 + [(72, 30)]
    assert len(_monitor(ward).observe([_beats(ward, *runs)])) == 1


def test_readings_split_across_batches_make_one_episode(ward: Ward) -> None:
    monitor = _monitor(ward)
    beats = _beats(ward, (140, 90))
    batches = [
        Accepted(beats.device, beats.device_record, beats.patient, beats.patient_record, beats.readings[i : i + 10])
        for i in range(0, 90, 10)
    ]
    assert sum(len(monitor.observe([batch])) for batch in batches) == 1


def test_workers_seeing_one_episodes_readings_raise_its_alert_once(ward: Ward, database: Database) -> None:
    """Readings spread over two workers (two monitors, one database): one alert per episode, and the next
    episode, once the first settled at either, alerts again (once)."""
    workers = [_monitor(ward, episodes=Tickets(database)) for _ in range(2)]

    def spread(*runs: tuple[float, int]) -> int:
        beats = _beats(ward, *runs)
        raised = 0
        for n, start in enumerate(range(0, len(beats.readings), 5)):  # each batch of five to the next worker
            part = Accepted(beats.device, beats.device_record, beats.patient, beats.patient_record, beats.readings)
            part = Accepted(
                part.device, part.device_record, part.patient, part.patient_record, part.readings[start : start + 5]
            )
            raised += len(workers[n % 2].observe([part]))
        return raised

    assert spread((72, 10), (140, 90)) == 1  # both saw the breach last past the rule's 30 s
    assert spread((72, 60)) == 0  # settled: a minute in range, seen by both
    assert spread((145, 45), (70, 5)) == 1
    assert [len(worker.observe([_beats(ward, (150, 40))])) for worker in workers] == [0, 0]  # still that one


def test_an_alert_is_a_flag_and_a_communication_in_the_patients_chart(ward: Ward) -> None:
    (alert,) = _monitor(ward).observe([_beats(ward, (140, 40))])
    alice = Accessor(ward.alice.address)
    flag = ward.node.access.for_caller(alice).read(alert.flag.removeprefix("Flag/"))
    message = ward.node.access.for_caller(alice).read(alert.communication.removeprefix("Communication/"))
    Flag.model_validate(flag)
    Communication.model_validate(message)
    assert flag["subject"] == {"reference": f"Patient/{ward.watch.patient_record}"}
    assert "Sustained tachycardia" in flag["code"]["text"]
    assert message["about"] == [{"reference": alert.flag}]
    assert message["category"][0]["coding"][0]["code"] == "alert"
    written = [e.access for e in ward.node.audit.entries() if alert.flag + "/_history/1" in e.access.entities]
    assert written
    assert written[0].patient == ward.alice.address


def test_the_nodes_monitor_watches_the_intake_and_tells_its_listeners(ward: Ward) -> None:
    heard: list[Alert] = []
    stop = ward.node.monitor.listen(heard.append)
    try:
        ward.node.intake.accept(ward.frame(ward.readings(72, 165, 170)))  # above the default 150
    finally:
        stop()
    assert [alert.rule for alert in heard] == ["Heart rate out of range"]
    ward.node.intake.accept(ward.frame(ward.readings(72, 72)))
    assert len(heard) == 1  # no longer listening
