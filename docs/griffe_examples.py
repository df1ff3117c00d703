"""A griffe extension for the API pages: engram's docstrings head their doctests "Example:".

Griffe's Google-style parser knows "Examples:" as the section whose ``>>>`` lines become code;
"Example:" would render as an admonition with the prompts turned into quotes. The docstrings stay
as they are; the API pages read them as examples.
"""

from __future__ import annotations

import re

import griffe

_EXAMPLE = re.compile(r"^(\s*)Example:\s*$", re.MULTILINE)


class ExampleSections(griffe.Extension):
    """Read a docstring's "Example:" heading as "Examples:"."""

    def on_object(self, *, obj: griffe.Object, **kwargs: object) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _EXAMPLE.sub(r"\1Examples:", obj.docstring.value)
