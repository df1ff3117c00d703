"""A griffe extension for the API pages: how engram's docstrings lay out examples and math.

- Griffe's Google-style parser knows "Examples:" as the section whose ``>>>`` lines become
  code; engram's docstrings write "Example:", which would render as an admonition with the
  prompts turned into quotes. The pages read them as examples.
- A "Math:" section is aligned plain text (forward and backward passes, shapes in columns); the
  pages show it as a code block, so its lines and columns stay as written.

The docstrings themselves stay as they are.
"""

from __future__ import annotations

import re

import griffe

_EXAMPLE = re.compile(r"^(\s*)Example:\s*$", re.MULTILINE)


def _fence_math(text: str) -> str:
    """Wrap the indented block under each "Math:" heading in a ``text`` code fence."""
    lines, out, i = text.split("\n"), [], 0
    while i < len(lines):
        line = lines[i]
        out.append(line)
        i += 1
        if line.strip() != "Math:":
            continue
        indent = len(line) - len(line.lstrip())
        block = []
        while i < len(lines) and (
            not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent
        ):
            block.append(lines[i])
            i += 1
        while block and not block[-1].strip():
            block.pop()
            i -= 1
        if block:
            inner = min(len(b) - len(b.lstrip()) for b in block if b.strip())
            pad = " " * inner
            out += [pad + "```text", *block, pad + "```"]
    return "\n".join(out)


class ExampleSections(griffe.Extension):
    """Read "Example:" as "Examples:" and show "Math:" blocks as code."""

    def on_object(self, *, obj: griffe.Object, **kwargs: object) -> None:
        if obj.docstring is not None:
            text = _EXAMPLE.sub(r"\1Examples:", obj.docstring.value)
            obj.docstring.value = _fence_math(text)
