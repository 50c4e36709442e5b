"""Markdown as a page shows it: a CDS card's `detail` (CDS Hooks says it is GitHub-flavoured markdown, so the chart
renders it: bold, tables, lists, rather than print its asterisks and pipes) and a trial's consent document.

The markdown is someone else's (a card built from records a client wrote, a sponsor's document), so it is
rendered safely with markdown-it-py (CommonMark and GFM tables): raw HTML is not HTML (it is shown as text), images
are not fetched (the page's policy would refuse them anyway; one is shown as a link), and a link is kept only if it
leads to an http(s) URL, and opens without telling the site where it came from. A card's trailing "Source: …"
paragraph is dropped: the chart shows the card's source on a line of its own, with its link.
"""

from __future__ import annotations

import functools
import re

from markdown_it import MarkdownIt
from markupsafe import Markup

_WEB = re.compile(r"https?://", re.IGNORECASE)
_SOURCE_LINE = re.compile(r"\n*^Source: [^\n]*\s*\Z", re.MULTILINE)


@functools.cache
def _renderer() -> MarkdownIt:
    """CommonMark with GFM tables, no raw HTML, no images, links only to http(s)."""
    md = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table").disable("image")
    md.validateLink = lambda url: _WEB.match(url) is not None  # type: ignore[method-assign]

    def link_open(renderer, tokens, idx, options, env):  # type: ignore[no-untyped-def]  # markdown-it's rule
        tokens[idx].attrSet("rel", "noreferrer nofollow")
        return renderer.renderToken(tokens, idx, options, env)

    md.add_render_rule("link_open", link_open)
    return md


def card_detail(detail: object) -> Markup:
    """A card's `detail` rendered as safe HTML (nothing for a card without one), less its closing source line."""
    if not isinstance(detail, str) or not detail.strip():
        return Markup("")
    return markdown(_SOURCE_LINE.sub("", detail))


def markdown(text: str) -> Markup:
    """Markdown someone else wrote (a card's detail, a trial's consent document) as safe HTML, rendered as above."""
    return Markup(_renderer().render(text))  # noqa: S704 - markdown-it escapes it: html is off
