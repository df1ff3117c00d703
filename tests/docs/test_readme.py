"""What the README quotes is what engram prints, and its license matches pyproject's."""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import pytest

from engram.nn import optimizers

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_gradcheck_example_is_self_contained_and_exact():
    blocks = [b for b in re.findall(r"```python\n(.*?)```", README, re.S) if "gradcheck(" in b]
    assert len(blocks) == 1
    test = doctest.DocTestParser().get_doctest(blocks[0], {}, "README", "README.md", 0)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    assert runner.summarize(verbose=False).failed == 0


def test_did_you_mean_text_is_exact():
    with pytest.raises(ValueError) as info:
        optimizers.get("adma")
    assert f"ValueError: {info.value}\n" in README


def test_license_file_matches_pyproject():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^license = \{ text = "MIT" \}$', pyproject, re.M)
    assert (ROOT / "LICENSE").read_text().startswith("MIT License\n")
