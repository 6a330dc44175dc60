"""The documentation a clone carries: links resolve, nothing points outside, a short front door."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.paths import ROOT

PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
LINK = re.compile(r"\]\(([^)#\s]+)(#[^)\s]*)?\)")


def tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return out.split()


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    broken = []
    for target, _anchor in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        if not (page.parent / target).exists():
            broken.append(target)
    assert not broken, f"{page.name} links to missing {broken}"


def test_no_file_points_outside_the_repository():
    outside = "/".join(["..", "shared"])  # spelled so that this file does not match itself
    offenders = []
    for name in tracked_files():
        path = ROOT / name
        if path.suffix in {".png", ".jpg", ".sqlite3"} or not path.is_file():
            continue
        if outside in path.read_text(errors="ignore"):
            offenders.append(name)
    assert not offenders, f"these files refer to {outside}, which a clone does not have: {offenders}"


def test_the_readme_is_a_front_door():
    assert len((ROOT / "README.md").read_bytes()) <= 8 * 1024
    # The code cites the project's own spec, which must exist.
    assert (ROOT / "docs" / "scoring.md").exists() and (ROOT / "docs" / "api.md").exists()
