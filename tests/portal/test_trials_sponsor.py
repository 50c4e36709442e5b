"""A trial's sponsor page over real HTTP: enrolment by site, the forecast drawn as SVG on the server, payments paid and
held, serious adverse events (for the sponsor and the board only); and the chart's geometry itself
(`careledger.portal._trial_chart`).

Two custodial patients are enrolled through the site's page by Dr Bob and randomised by the sponsor; one visit's CRF
is paid by the node's own round; a serious adverse event is reported here, where the sponsor's and the board's
wallets are kept, so its safety report stays on this node.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import date, timedelta

import httpx
import pytest
from eth_account import Account

from careledger.access import Accessor
from careledger.portal._trial_chart import HEIGHT, WIDTH, forecast_chart
from careledger.testdata import CARE
from careledger.trials import AdverseEventInput
from tests.portal.trials import BOARD, SPONSOR, TrialSite, post, session, trial_site, words

pytestmark = pytest.mark.anvil

DAY = date(2026, 3, 1)
DATE = r"\d{4}-\d{2}-\d{2}"


def _points(points: str) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in (pair.split(",") for pair in points.split())]


def test_the_chart_draws_enrolment_so_far_and_the_band_to_the_target() -> None:
    today = DAY + timedelta(days=10)
    median, low, high = DAY + timedelta(days=40), DAY + timedelta(days=30), DAY + timedelta(days=60)
    chart = forecast_chart([(DAY, 0), (today, 5)], 20, today, (median, low, high))
    enrolled = _points(chart.enrolled)
    assert enrolled[0] == (chart.plot_left, chart.plot_bottom)  # none on the first day, at the axes' corner
    assert enrolled[-1][0] == chart.today_x
    quarter = chart.plot_bottom - (chart.plot_bottom - chart.target_y) / 4  # 5 of 20
    assert enrolled[-1][1] == pytest.approx(quarter, abs=0.1)
    band = _points(chart.band)
    assert band[0] == enrolled[-1]  # from today's count …
    assert [y for _, y in band[1:]] == [chart.target_y, chart.target_y]  # … to the target at the 5% and 95% dates
    assert band[1][0] < _points(chart.median)[-1][0] < band[2][0]  # the median between them
    assert band[2][0] == chart.plot_right  # the 95% date ends the days shown
    assert chart.target_y == chart.plot_top
    assert [t.label for t in chart.y_ticks] == ["0", "5", "10", "15", "20"]
    assert (chart.x_ticks[0].label, chart.x_ticks[-1].label) == ("1 Mar 2026", "30 Apr 2026")
    assert 0 < chart.plot_left < chart.plot_right <= WIDTH
    assert 0 < chart.plot_top < chart.plot_bottom <= HEIGHT


def test_a_reached_target_has_no_band_and_a_short_history_a_week_of_days() -> None:
    chart = forecast_chart([(DAY, 0), (DAY, 3)], 3, DAY, None)
    assert (chart.band, chart.median) == ("", "")
    assert _points(chart.enrolled)[-1] == (chart.plot_left, chart.target_y)
    assert chart.x_ticks[-1].label == "8 Mar 2026"  # at least a week wide, however young the trial
    assert [t.label for t in chart.y_ticks] == ["0", "1", "2", "3"]


# The page, on a served node --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrialSite]:
    with trial_site(tmp_path_factory, "trial-sponsor") as found:
        yield found


def _page(client: httpx.Client, path: str, status: int = 200) -> str:
    page = client.get(path)
    assert page.status_code == status, page.text
    return page.text


def _crf(visit: int) -> dict[str, str]:
    answers = {"systolic": "150", "diastolic": "95", "heart-rate": "72", "weight": "80", "prior-treatment": "false"}
    return {f"item-{link}": value for link, value in answers.items()}


def _running_trial(site: TrialSite) -> tuple[int, list[str]]:
    """A trial with two patients enrolled through the site's page, randomised, the first's visit 1 paid and a
    serious adverse event of hers reported: its id and the patients."""
    trial_id = site.trial()
    patients = [site.patient(), site.patient()]
    with session(site.clinic, "drbob") as drbob:
        page = f"/portal/trials/site/{trial_id}"
        for patient_id, payee in zip(patients, (Account.create().address, ""), strict=True):  # the second's held
            assert post(drbob, page, f"{page}/enrol", patient=patient_id, payee=payee).status_code == 200
        assert site.node.trial_registry.randomise(SPONSOR, trial_id) == 2
        crf = f"{page}/patients/{patients[0]}/visits/1"
        assert post(drbob, crf, f"{crf}/crf", **_crf(1)).status_code == 200
        deadline = time.monotonic() + 90  # anchored, then paid by the node's round
        while "1 paid" not in words(_page(drbob, page)) and time.monotonic() < deadline:
            time.sleep(1)
    event = AdverseEventInput(
        "http://snomed.info/sct", "22298006", "Myocardial infarction", True, "severe", date.today(),
        description="Chest pain at home; admitted to Ward 3 under Dr Bob.", narrative="Admitted; recovering.",
    )  # fmt: skip
    drbob_accessor = Accessor(site.clinic.address("drbob"))
    site.node.trial_site.report_adverse_event(drbob_accessor, trial_id, patients[0], event)
    return trial_id, patients


def test_the_sponsor_sees_enrolment_the_forecast_payments_and_serious_events(site: TrialSite) -> None:
    fresh = site.trial()
    trial_id, patients = _running_trial(site)
    with session(site.clinic, SPONSOR) as sponsor:
        listed = words(_page(sponsor, "/portal/trials/sponsor"))
        assert re.search(rf"HT-3[^(]*\({trial_id}\) sponsor 2 of 60 9845 CARE enrolling, blinded", listed), listed
        assert "No forecast yet:" in words(_page(sponsor, f"/portal/trials/sponsor/{fresh}"))  # nobody to fit yet

        page = _page(sponsor, f"/portal/trials/sponsor/{trial_id}")
        said = words(page)
        assert re.search(r"this node 0x[0-9a-fA-F]{40} [^<]* 2 All sites \(target 60\) 2", said), said
        assert re.search(r'<svg class="forecast" viewBox="0 0 640 320" role="img"', page)
        title = re.search(r"<title id=\"forecast-title-\d+\">([^<]*)</title>", page)
        assert title, page
        assert re.fullmatch(
            rf"Enrolment of trial {trial_id}: 2 of 60 so far; "
            rf"target reached by {DATE} \(90% interval {DATE} to {DATE}\)",
            title.group(1),
        )
        enrolled = re.search(r'<polyline points="([^"]*)" [^>]*data-series="enrolled"', page)
        assert enrolled, page
        assert enrolled.group(1).split()[-1] != enrolled.group(1).split()[0]  # from none at the opening to 2 today
        for series in ("enrolled", "median", "interval", "target", "today"):
            assert f'data-series="{series}"' in page
        assert re.search(r"around \d{1,2} \w{3} \d{4} ?; 90% interval \d{1,2} \w{3} \d{4} to \d{1,2} \w{3} \d{4}", said)
        assert "58 to go" in said
        assert "Enrolled so far 2 of 60" in said  # the chart's numbers, in words too
        assert "Budget 9900 CARE Paid 55 CARE Left in escrow 9845 CARE" in said
        assert "Site fees paid Site Paid this node 40 CARE" in said
        assert re.search(r"Stipends paid, by participant Participant Paid 0x[0-9a-f]{64} 15 CARE", said)
        assert re.search(r"Myocardial infarction \(22298006\) severe Admitted; recovering\.", said), said
        for private in ("Trialist", "Custodial", "Chest pain", "Ward 3", *patients):
            assert private not in page  # a safety report names no one, and carries only the site's narrative

        far = (date.today() + timedelta(days=3650)).isoformat()
        likely = words(_page(sponsor, f"/portal/trials/sponsor/{trial_id}?deadline={far}"))
        assert "The target is likely (90%) reached by" in likely
        assert "with the sites open now" in likely
        past = (date.today() - timedelta(days=1)).isoformat()
        refused = _page(sponsor, f"/portal/trials/sponsor/{trial_id}?deadline={past}")
        assert re.search(r'<p class="error" role="alert">[^<]*deadline[^<]*</p>', refused), refused
        assert 'data-series="median"' in refused  # the forecast itself still drawn
        assert "a deadline is a date, YYYY-MM-DD" in words(
            _page(sponsor, f"/portal/trials/sponsor/{trial_id}?deadline=soon", 400)
        )

    with session(site.clinic, BOARD) as board:
        assert re.search(rf"\({trial_id}\) ethics board", words(_page(board, "/portal/trials/sponsor")))
        assert "Myocardial infarction" in words(_page(board, f"/portal/trials/sponsor/{trial_id}"))
    with session(site.clinic, "drbob") as drbob:
        other = words(_page(drbob, f"/portal/trials/sponsor/{trial_id}"))
        assert (
            f"only trial {trial_id}'s sponsor and the ethics boards that approved it read its safety reports" in other
        )
        assert "Myocardial infarction" not in other
        assert "You sponsor no trial, and approved none." in words(_page(drbob, "/portal/trials/sponsor"))

    site.node.trial_registry.unblind(SPONSOR, trial_id)
    assert site.node.trial_registry.return_escrow(SPONSOR, trial_id) == 9845 * CARE - 275 * CARE  # 2 x 165, 55 paid
    with session(site.clinic, SPONSOR) as sponsor:
        said = words(_page(sponsor, f"/portal/trials/sponsor/{trial_id}"))
        assert "Budget 9900 CARE Paid 55 CARE Returned to the sponsor after unblinding 9570 CARE" in said
        assert "Left in escrow 275 CARE" in said
