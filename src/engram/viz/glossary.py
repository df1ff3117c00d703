"""The glossary the reports link to: ``glossary.md`` (shipped in the package, also the docs page).

`terms` reads the file's ``## Term`` sections once; `link_terms` turns the first mention of each
term in a report's markdown into a link to the report's own "Terms used" list, and `used_terms`
says which terms a text mentions, so the report can define them at its end, offline.

Example:
    >>> [t.name for t in used_terms("Recall slides into an attractor.")]
    ['Attractor']
    >>> link_terms("Recall slides into an attractor.")
    'Recall slides into an [attractor](#term-attractor).'
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources

_SECTION = re.compile(r"^## (.+)$", re.MULTILINE)
_PROTECTED = re.compile(r"`[^`]+`|\$[^$\n]+\$|\[[^\]]*\]\([^)]*\)")  # code, math, links


@dataclass(frozen=True)
class Term:
    """One glossary entry: its name, its anchor in a report and its definition (markdown)."""

    name: str
    anchor: str
    definition: str

    @functools.cached_property
    def pattern(self) -> re.Pattern[str]:
        """The term as a whole word, any case, with a plural ``s``/``es`` allowed."""
        return re.compile(rf"(?<![\w-])({re.escape(self.name)}(?:e?s)?)(?![\w-])", re.IGNORECASE)


def _anchor(name: str) -> str:
    return "term-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


@functools.cache
def terms() -> tuple[Term, ...]:
    """Every glossary entry, longest names first (so a longer term wins over its prefix)."""
    text = resources.files("engram.viz").joinpath("glossary.md").read_text(encoding="utf-8")
    heads = list(_SECTION.finditer(text))
    found = []
    for head, nxt in zip(heads, [*heads[1:], None], strict=True):
        body = text[head.end() : nxt.start() if nxt else len(text)].strip()
        body = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", body)  # links point into the docs site
        found.append(Term(head[1].strip(), _anchor(head[1].strip()), " ".join(body.split())))
    return tuple(sorted(found, key=lambda t: -len(t.name)))


def _plain_parts(text: str) -> list[tuple[bool, str]]:
    """``text`` split into (is_plain, part): code, math and links are not plain."""
    parts, last = [], 0
    for m in _PROTECTED.finditer(text):
        parts += [(True, text[last : m.start()]), (False, m[0])]
        last = m.end()
    return [*parts, (True, text[last:])]


def used_terms(text: str) -> list[Term]:
    """The glossary terms ``text`` mentions outside code, math and links, in glossary order."""
    plain = " ".join(part for is_plain, part in _plain_parts(text) if is_plain)
    hits = [t for t in terms() if t.pattern.search(plain)]
    return sorted(hits, key=lambda t: t.name.lower())


def link_terms(text: str) -> str:
    """``text`` with each term's first plain mention linked to ``#term-...`` (markdown)."""
    parts = _plain_parts(text)
    for term in terms():
        for i, (is_plain, part) in enumerate(parts):
            m = term.pattern.search(part) if is_plain else None
            if m:  # split the part so that the link itself is no longer plain text
                link = f"[{m[1]}](#{term.anchor})"
                parts[i : i + 1] = [
                    (True, part[: m.start()]),
                    (False, link),
                    (True, part[m.end() :]),
                ]
                break
    return "".join(part for _, part in parts)
