"""A CDS card's markdown detail on a page: rendered (bold, tables, lists), never raw HTML, links only to http(s),
and its closing source line left to the card's own."""

from __future__ import annotations

import pytest

from careledger.portal._markdown import card_detail

DETAIL = """**37.3 % 10-year risk**, band *high*.

| Input | Value | Source |
| --- | --- | --- |
| Age | 66 years | - |

What would lower it:
- Stop smoking: 21.0 %

Source: Goff 2013 (2013 PCE)"""


def test_bold_tables_and_lists_are_rendered_and_the_source_line_dropped() -> None:
    shown = str(card_detail(DETAIL))
    assert "<strong>37.3 % 10-year risk</strong>" in shown
    assert "<em>high</em>" in shown
    assert "<th>Input</th>" in shown
    assert "<td>66 years</td>" in shown
    assert "<li>Stop smoking: 21.0 %</li>" in shown
    assert "**" not in shown
    assert "|" not in shown
    assert "Source:" not in shown


def test_a_source_line_inside_the_text_is_kept() -> None:
    assert "Source: the lab" in str(card_detail("Source: the lab said so.\n\nMore."))


@pytest.mark.parametrize(
    "markdown",
    [
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        "[click](javascript:alert(1))",
        "[click](data:text/html;base64,PHNjcmlwdD4=)",
        "[click](/portal/consents)",
        "[click](vbscript:msgbox)",
    ],
)
def test_raw_html_and_links_that_are_not_http_are_text(markdown: str) -> None:
    shown = str(card_detail(markdown))
    assert "<script" not in shown
    assert "<img" not in shown
    assert "<a " not in shown


def test_an_http_link_is_kept_and_tells_no_referrer() -> None:
    shown = str(card_detail("See [the paper](https://doi.org/10.1161/01.cir.0000437741.48606.98)."))
    assert '<a href="https://doi.org/10.1161/01.cir.0000437741.48606.98" rel="noreferrer nofollow">' in shown


def test_no_detail_is_nothing() -> None:
    assert str(card_detail(None)) == ""
    assert str(card_detail("  ")) == ""
