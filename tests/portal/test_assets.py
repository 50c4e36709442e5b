"""The portal's assets: the vendored scripts are the pinned npm packages, and no template runs inline code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from careledger.portal import PORTAL_ASSETS

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = PORTAL_ASSETS.parent / "templates"
VENDORED = {
    "htmx.min.js": "htmx.org/dist/htmx.min.js",
    "chart.umd.min.js": "chart.js/dist/chart.umd.min.js",
    "ethers.umd.min.js": "ethers/dist/ethers.umd.min.js",
}


@pytest.mark.skipif(not (ROOT / "node_modules/ethers").is_dir(), reason="the npm packages are not installed")
@pytest.mark.parametrize("name", sorted(VENDORED))
def test_a_vendored_script_is_the_pinned_npm_package(name: str) -> None:
    assert (PORTAL_ASSETS / "vendor" / name).read_bytes() == (ROOT / "node_modules" / VENDORED[name]).read_bytes()


@pytest.mark.parametrize("template", sorted(p.name for p in TEMPLATES.glob("*.html")))
def test_no_template_runs_inline_code(template: str) -> None:
    html = (TEMPLATES / template).read_text()
    for script in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in script or 'type="application/json"' in script, script
    assert not re.search(r"\son[a-z]+\s*=", html)  # no inline event handlers
    assert "javascript:" not in html
    assert not re.search(r"\sstyle\s*=", html)  # the policy allows no inline styles either
    assert not re.search(r'(src|href)="(https?:)?//', html)  # nothing from another site
