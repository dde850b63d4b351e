"""The README's two commands are the ones that work: CI runs the test command verbatim."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## The two commands", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.+?)\n```", section)


def test_readme_has_exactly_two_commands() -> None:
    found = commands()
    assert len(found) == 2, found
    assert "gunicorn -c gunicorn.conf.py wsgi:app" in found[0]
    assert "pytest" in found[1]


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert commands()[1] in ci


# Relative links in the manual and in docs/ must lead somewhere: a file that exists and, with
# a #fragment, a heading in it.
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def manual_pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return {slug(m) for m in re.findall(r"^#+ (.+)$", text, flags=re.M)}


def test_every_relative_link_resolves() -> None:
    broken = []
    for page in manual_pages():
        text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
        for target in LINK.findall(text):
            if re.match(r"[a-z]+:", target):
                continue  # http:, https:, mailto:
            path, _, fragment = target.partition("#")
            dest = (page.parent / path).resolve() if path else page
            if not dest.exists():
                broken.append(f"{page.name}: {target}")
                continue
            if fragment and dest.suffix == ".md" and fragment not in anchors(dest):
                broken.append(f"{page.name}: {target} (no such heading)")
    assert not broken, broken


def test_the_layout_lists_every_module() -> None:
    design = (ROOT / "docs" / "design.md").read_text().split("Every module of `streamer/`", 1)[1]
    listed = set(re.findall(r"^\| `([\w/]+\.py)` \|", design, flags=re.M))
    modules = {str(p.relative_to(ROOT / "streamer")) for p in (ROOT / "streamer").rglob("*.py")}
    assert modules - listed == set(), "add a line to docs/design.md's layout"
    assert listed - modules == set(), "remove the line from docs/design.md's layout"


def test_the_manual_has_no_changelog_prose() -> None:
    readme = (ROOT / "README.md").read_text()
    found = re.findall(r"\bused to\b|\bSettings added\b|\bissue \d+|\bno longer\b", readme)
    assert not found, found
