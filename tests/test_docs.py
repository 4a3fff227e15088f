"""docs/index.md maps every page of docs/, and every relative link in the README and docs/ resolves."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
# [text](target): inline links, not images' alt text; the target up to a space or ')'.
LINK = re.compile(r"(?<!\!)\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.M | re.S)
CODE_SPAN = re.compile(r"`(?:[^`\n]|\n(?!\n))+`")  # may wrap, never across a blank line


def _pages() -> list[Path]:
    return [REPO / "README.md", *sorted(DOCS.glob("*.md"))]


def _relative_links(page: Path) -> list[str]:
    # Code blocks and spans hold no links (a config path like `groups[1](gpu)` is not one).
    text = CODE_SPAN.sub("", FENCE.sub("", page.read_text(encoding="utf-8")))
    return [t for t in LINK.findall(text) if not re.match(r"^[a-z][a-z0-9+.-]*:|^#", t)]


def test_the_index_lists_every_page_of_docs():
    listed = set(re.findall(r"\]\(([\w.-]+\.md)\)", (DOCS / "index.md").read_text(encoding="utf-8")))
    pages = {p.name for p in DOCS.glob("*.md")} - {"index.md"}
    assert not pages - listed, f"pages missing from docs/index.md: {sorted(pages - listed)}"
    assert not listed - pages, f"docs/index.md lists pages that do not exist: {sorted(listed - pages)}"


def test_every_relative_link_resolves():
    broken = [
        f"{page.relative_to(REPO)}: {target}"
        for page in _pages()
        for target in _relative_links(page)
        if not (page.parent / target.split("#")[0]).exists()
    ]
    assert not broken, broken


def test_the_link_finder_sees_links_and_skips_urls_and_code():
    page = DOCS / "index.md"
    assert "first-job.md" in _relative_links(page)
    sample = REPO / "README.md"
    links = _relative_links(sample)
    assert "docs/index.md" in links and not [t for t in links if t.startswith("http")]


def test_the_readme_stays_short_and_links_the_index():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 200
    assert "(docs/index.md)" in text and "(docs/first-job.md)" in text
    assert "make synth" in text and "make test" in text  # .ci/run runs the README's test command
