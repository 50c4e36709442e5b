"""What a device may measure, and how readings become FHIR vital-signs Observations.

Each LOINC code a node takes from devices, with its UCUM units (a panel lists one per
component, in order), and the range a living body can show in each value: a value
outside is a broken or forged device, never a patient to page about. Readings become
Observations in one of two shapes: one per reading (`valueQuantity`), or one per device,
code and interval whose value is `SampledData`, so storage grows with time and not with
the sample rate.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from careledger.errors import ConfigError
from careledger.fhir import concept, fhir_instant, systems, ucum_quantity
from careledger.iot._frames import Reading


@dataclass(frozen=True, slots=True)
class Measure:
    """A LOINC code devices send: its name, and its components' codes and units (one for a single value)."""

    code: str
    display: str
    components: tuple[tuple[str, str, str], ...]  # (LOINC code, display, UCUM unit)

    @property
    def panel(self) -> bool:
        """Whether values go in components (blood pressure) rather than the Observation's own value."""
        return len(self.components) > 1


def _single(code: str, display: str, unit: str) -> Measure:
    return Measure(code, display, ((code, display, unit),))


MEASURES = {
    measure.code: measure
    for measure in (
        _single("8867-4", "Heart rate", "/min"),
        _single("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", "%"),
        Measure(
            "85354-9",
            "Blood pressure panel with all children optional",
            (("8480-6", "Systolic blood pressure", "mm[Hg]"), ("8462-4", "Diastolic blood pressure", "mm[Hg]")),
        ),
        _single("8310-5", "Body temperature", "Cel"),
        _single("2339-0", "Glucose [Mass/volume] in Blood", "mg/dL"),
        _single("55423-8", "Number of steps in unspecified time Pedometer", "{steps}"),
    )
}


# The values a living body can show, by the LOINC code of each value (a panel's by its components'),
# in the units above: wide enough for any patient (a neonate's heart rate, a crisis's blood pressure,
# deep hypothermia, a hyperosmolar glucose), so a reading outside is a device fault or a forgery.
PLAUSIBLE: dict[str, tuple[float, float]] = {
    "8867-4": (0, 350),  # heart rate, /min
    "59408-5": (0, 100),  # oxygen saturation, %
    "8480-6": (0, 300),  # systolic blood pressure, mm[Hg]
    "8462-4": (0, 250),  # diastolic blood pressure, mm[Hg]
    "8310-5": (10, 50),  # body temperature, Cel
    "2339-0": (0, 3000),  # blood glucose, mg/dL
    "55423-8": (0, 250_000),  # steps
}


def plausible_ranges(overrides: Mapping[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
    """The plausible range of every value code: the defaults with the node's `reading_ranges` over them;
    `ConfigError` for a code no device sends, or a range that is empty or not finite."""
    for code, (low, high) in overrides.items():
        if code not in PLAUSIBLE:
            known = ", ".join(sorted(PLAUSIBLE))
            raise ConfigError(f"reading_ranges names {code!r}: ranges are by the LOINC code of a value ({known})")
        if not (math.isfinite(low) and math.isfinite(high) and low <= high):
            raise ConfigError(f"reading_ranges for {code} is [{low}, {high}]: two finite numbers, low first")
    return {**PLAUSIBLE, **overrides}


def problem(reading: Reading, ranges: Mapping[str, tuple[float, float]] = PLAUSIBLE) -> str | None:
    """Why a reading's code, units or values are not what its code takes, or None."""
    measure = MEASURES.get(reading.code)
    if measure is None:
        return "unknown-code"
    units = tuple(unit for *_, unit in measure.components)
    if tuple(unit for _, unit in reading.values) != units:
        return "wrong-units"
    for (code, _, _), (value, _) in zip(measure.components, reading.values, strict=True):
        low, high = ranges[code]
        if not low <= value <= high:  # NaN too: it compares false with everything
            return "implausible-value"
    return None


def observation_id(device: str, code: str, key: str) -> str:
    """A stable id per device, code and `key` (a reading's sequence; an interval's start and first
    sequence): storing the same readings again is a new version of one record, never a second one."""
    digest = hashlib.sha256(f"{device.lower()}|{code}|{key}".encode()).hexdigest()
    return f"dev-{digest[:40]}"


def reading_observation(device_ref: str, patient_ref: str, device: str, reading: Reading) -> dict[str, Any]:
    """One reading as an Observation with a `valueQuantity` (or component quantities for a panel)."""
    measure = MEASURES[reading.code]
    observation = _observation(
        device_ref, patient_ref, observation_id(device, reading.code, str(reading.sequence)), measure
    )
    observation["effectiveDateTime"] = fhir_instant(reading.time_ms / 1000)
    return _with_values(observation, measure, "valueQuantity", [ucum_quantity(v, unit) for v, unit in reading.values])


def summary_observation(
    device_ref: str, patient_ref: str, device: str, start_ms: int, interval_ms: int, readings: Sequence[Reading]
) -> dict[str, Any]:
    """Readings of one code in one interval as an Observation whose values are `SampledData`.

    The samples are in time order, `period` the mean spacing between them; a summary of
    one reading is still SampledData, so every summary has the same shape.
    """
    ordered = sorted(readings, key=lambda reading: (reading.time_ms, reading.sequence))
    measure = MEASURES[ordered[0].code]
    observation = _observation(
        device_ref, patient_ref, observation_id(device, measure.code, f"{start_ms}/{ordered[0].sequence}"), measure
    )
    first, last = ordered[0].time_ms, ordered[-1].time_ms
    observation["effectivePeriod"] = {"start": fhir_instant(first / 1000), "end": fhir_instant(last / 1000)}
    period = (last - first) / (len(ordered) - 1) if len(ordered) > 1 else interval_ms
    sampled = [
        {
            "origin": ucum_quantity(0, unit),
            "period": round(period, 3),
            "dimensions": 1,
            "data": " ".join(_number(reading.values[index][0]) for reading in ordered),
        }
        for index, (*_, unit) in enumerate(measure.components)
    ]
    return _with_values(observation, measure, "valueSampledData", sampled)


def _with_values(
    observation: dict[str, Any], measure: Measure, element: str, values: list[dict[str, Any]]
) -> dict[str, Any]:
    """`observation` with its values as `element` (valueQuantity, valueSampledData): its own, or a panel's
    components'."""
    if measure.panel:
        observation["component"] = [
            {"code": concept(systems.LOINC, code, display), element: value}
            for (code, display, _), value in zip(measure.components, values, strict=True)
        ]
    else:
        observation[element] = values[0]
    return observation


def _observation(device_ref: str, patient_ref: str, record_id: str, measure: Measure) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": record_id,
        "status": "final",
        "category": [concept(systems.OBSERVATION_CATEGORY, "vital-signs", "Vital Signs")],
        "code": concept(systems.LOINC, measure.code, measure.display),
        "subject": {"reference": patient_ref},
        "device": {"reference": device_ref},
    }


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)
