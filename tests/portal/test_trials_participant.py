"""A patient's trial pages: whether she may join in words, the consent document, her wallet's EIP-712 signature (in a
real Chromium, with a wallet injected as an extension would be), a consent to a version no longer current refused,
re-consent after an amendment, and withdrawal with what happens to her data said before she confirms.

carol and dora are eligible patients of the node with their own wallets; erin has no eGFR on record. Over HTTP, their
wallets sign the typed data the page fetches with eth-account, as a wallet outside the project would.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from playwright.sync_api import Browser, expect

from careledger.access import Accessor
from careledger.consent import Purpose
from tests.portal.browser import check_page, wallet_context
from tests.portal.trials import SPONSOR, TrialSite, csrf, post, session, trial_site, words

pytestmark = pytest.mark.anvil


@dataclass
class People:
    """The node, and its patients' Patient record ids."""

    site: TrialSite
    carol: str
    dora: str
    erin: str


@pytest.fixture(scope="module")
def people(tmp_path_factory: pytest.TempPathFactory) -> Iterator[People]:
    with trial_site(tmp_path_factory, "trial-participant") as site:
        yield People(site, site.patient("carol"), site.patient("dora"), site.patient("erin", egfr=False))


def _page(client: httpx.Client, path: str, status: int = 200) -> str:
    page = client.get(path)
    assert page.status_code == status, page.text
    return page.text


def _prepared(client: httpx.Client, page: str, action: str, **form: str) -> httpx.Response:
    """What the page's script fetches for the wallet to sign (JSON), or the refusal."""
    token = csrf(_page(client, page))
    return client.post(action, data={"csrf": token, **form}, headers={"Accept": "application/json"})


def _signed(client: httpx.Client, account: LocalAccount, page: str, step: str, **form: str) -> httpx.Response:
    """The page's signing as its script does it: prepare (`…/prepare-{step}`), sign with the wallet, post."""
    trial = page.split("/")[3]
    prepared = _prepared(client, page, f"/portal/trials/{trial}/prepare-{step}", **form)
    assert prepared.status_code == 200, prepared.text
    typed = prepared.json()
    signature = "0x" + bytes(account.sign_typed_data(full_message=typed).signature).hex()
    action = f"/portal/trials/{trial}/{'sign' if step == 'consent' else 'withdraw'}"
    return client.post(
        action, data={"csrf": csrf(_page(client, page)), "typed": json.dumps(typed), "signature": signature}
    )


def _herself(site: TrialSite, wallet: str) -> Accessor:
    """A patient reading her own trials, as her pages do."""
    return Accessor(site.clinic.address(wallet), Purpose.PATRQT)


def _her_trial(client: httpx.Client, trial_id: int) -> str:
    found = re.search(
        rf'<section class="card trial" id="trial-{trial_id}".*?</section>', _page(client, "/portal/trials"), re.S
    )
    assert found, f"trial {trial_id} is not among hers"
    return words(found.group(0))


def test_whether_she_may_join_is_said_in_words_with_the_consent_document(people: People) -> None:
    site = people.site
    trial_id = site.trial()
    version = site.node.trial_registry.show(trial_id).versions[0]
    with session(site.clinic, "erin") as erin:
        open_here = words(_page(erin, "/portal/trials"))
        assert "You may not join this trial now: your record here does not tell us everything it asks" in open_here
        assert "Not known: no eGFR on record in the last 365 days" in open_here
        assert "Sign and join" not in _page(erin, f"/portal/trials/{trial_id}")
        refused = _prepared(erin, f"/portal/trials/{trial_id}", f"/portal/trials/{trial_id}/prepare-consent")
        assert refused.status_code == 400
        assert f"not eligible for trial {trial_id}: unknown: no eGFR on record in the last 365 days" in words(
            refused.text
        )

    carol_address = site.clinic.address("carol")
    with session(site.clinic, "carol") as carol:
        assert "You meet every criterion of this trial" in words(_page(carol, "/portal/trials"))
        page = _page(carol, f"/portal/trials/{trial_id}")
        assert "<h1>HT-3: taking part in a study of two blood pressure treatments</h1>" in page  # markdown, rendered
        assert "<strong>Sponsor:</strong>" in page
        said = words(page)
        assert f"Consent document, version 1; its hash on chain: {version.consent_hash}" in said
        assert "If you withdraw If you withdraw, no new study data is collected from you" in said
        assert '<input id="payee" name="payee" maxlength="42"' in page  # empty: her own address is not assumed
        assert "use a fresh address that you use for nothing else" in said
        assert f"Your wallet's address, if you would rather be paid there all the same, is {carol_address}" in said


def test_she_signs_the_consent_with_her_wallet_in_chromium(people: People, browser: Browser) -> None:
    site = people.site
    trial_id = site.trial()
    carol = wallet_context(browser, site.clinic.account("carol")).new_page()
    carol.goto(f"{site.clinic.url}/portal/signin")
    carol.get_by_role("button", name="Sign in with the browser's wallet").click()
    carol.wait_for_url(re.compile(r"/portal/records"))
    carol.goto(f"{site.clinic.url}/portal/trials")
    carol.locator(f'a[href="/portal/trials/{trial_id}"]').first.click()
    expect(carol.get_by_role("heading", name="Join the trial")).to_be_visible()
    check_page(carol, "trials-consent")

    payee = Account.create().address  # a fresh address for her stipends, as the page advises
    carol.get_by_label("Stipends paid to").fill(payee)
    carol.get_by_role("button", name="Sign and join").click()
    carol.wait_for_url(re.compile(rf"/portal/trials#trial-{trial_id}$"), timeout=60_000)
    joined = carol.locator(f"#trial-{trial_id}")
    expect(joined).to_contain_text("Status: on-study")
    expect(joined).to_contain_text("You signed the consent of version 1")
    expect(joined.get_by_role("row")).to_have_count(4)  # the header and her three visits
    expect(joined).to_contain_text(f"Stipends paid: 0 CARE for 0 visits (15 CARE a visit), to {payee}")
    check_page(carol, "trials-joined")
    (part,) = [t for t in site.node.trial_participant.trials(_herself(site, "carol")) if t.trial_id == trial_id]
    assert (part.status, part.consented_version, part.payee) == ("on-study", 1, payee)


def test_a_version_no_longer_current_is_refused_and_her_reconsent_unblocks_her_visits(people: People) -> None:
    site = people.site
    trial_id = site.trial()
    page = f"/portal/trials/{trial_id}"
    with session(site.clinic, "carol") as carol, session(site.clinic, "dora") as dora:
        joined = _signed(carol, site.clinic.account("carol"), page, "consent")  # no payee: her stipends held
        assert joined.status_code == 303, joined.text
        assert site.node.trial_registry.randomise(SPONSOR, trial_id) == 1
        waiting = _prepared(dora, page, f"{page}/prepare-consent")  # dora reads version 1 …
        assert waiting.json()["message"]["version"] == 1
        assert site.amend(trial_id) == 2  # … and the board approves version 2, asking everyone to consent again

        late = "0x" + bytes(site.clinic.account("dora").sign_typed_data(full_message=waiting.json()).signature).hex()
        refused = dora.post(f"{page}/sign", data={"csrf": csrf(_page(dora, page)), "signature": late})
        assert refused.status_code == 400
        assert "she signed the consent of version 1, not the current version 2" in words(refused.text)
        assert "You signed the consent" not in _page(dora, "/portal/trials")

        blocked = _her_trial(carol, trial_id)
        assert "The trial changed and asks you to read and sign its new consent document" in blocked
        assert blocked.count("blocked: re-consent") == 3
        assert "Sign version 2" in words(_page(carol, page))
        again = _signed(carol, site.clinic.account("carol"), page, "consent")
        assert again.status_code == 303, again.text
        unblocked = _her_trial(carol, trial_id)
        assert "You signed the consent of version 2; the trial's current version is 2" in unblocked
        assert "blocked" not in unblocked
        assert "held for you in the trial's escrow until an address of yours is named" in unblocked
        refused = post(carol, "/portal/trials", f"{page}/payee", payee="my wallet")
        assert refused.status_code == 400
        assert "a payee is an address (0x and 40 hex digits), not 'my wallet'" in words(refused.text)
        fresh = Account.create().address
        assert post(carol, "/portal/trials", f"{page}/payee", payee=fresh).status_code == 303
        named = _her_trial(carol, trial_id)
        assert f"(15 CARE a visit), to {fresh}" in named
        assert "An address for your stipends" not in named
        assert "You signed this version" in words(_page(carol, page))


def test_withdrawal_says_what_happens_to_her_data_before_she_confirms(people: People) -> None:
    site = people.site
    trial_id = site.trial()
    page, leave = f"/portal/trials/{trial_id}", f"/portal/trials/{trial_id}/withdraw"
    with session(site.clinic, "dora") as dora:
        assert f"you are not taking part in trial {trial_id} here" in words(_page(dora, leave, 404))
        assert _signed(dora, site.clinic.account("dora"), page, "consent").status_code == 303
        said = words(_page(dora, leave))
        assert "What happens to your data If you withdraw, no new study data is collected from you" in said
        assert "the 0 CARE of stipends paid to you so far stay yours" in said

        unticked = _prepared(dora, leave, f"{page}/prepare-withdraw")
        assert unticked.status_code == 400
        assert "tick the box that says you read what happens to your data" in words(unticked.text)
        typed = _prepared(dora, leave, f"{page}/prepare-withdraw", understood="yes").json()
        assert typed["primaryType"] == "TrialWithdrawal"
        forged = "0x" + bytes(site.clinic.account("carol").sign_typed_data(full_message=typed).signature).hex()
        refused = dora.post(leave, data={"csrf": csrf(_page(dora, leave)), "signature": forged})
        assert refused.status_code == 403
        assert f"the signature is {site.clinic.address('carol')}'s, not hers" in words(refused.text)

        done = _signed(dora, site.clinic.account("dora"), leave, "withdraw", understood="yes")
        assert done.status_code == 303, done.text
        assert "Status: withdrawn" in _her_trial(dora, trial_id)
        assert f'href="{leave}"' not in _page(dora, "/portal/trials")
        assert "You withdrew from this trial." in words(_page(dora, leave))
