"""The plan: grid parsing through the runner's own checks, and per-cell seeds."""

from __future__ import annotations

import numpy as np
import pytest

from engram.experiments import get
from engram.sweep import make_plan
from engram.sweep.grid import parse_grid, split_values


def test_split_values_keeps_bracketed_lists_whole():
    assert split_values("1, 2,3") == ["1", "2", "3"]
    assert split_values("[100,200],[400]") == ["[100,200]", "[400]"]


def test_grid_values_are_typed_by_the_settings_defaults():
    grid = parse_grid(get("hopfield-capacity"), ["sizes=100,[200,400]", "flip_fraction=0.1,0.2"])
    assert grid == {"sizes": [(100,), (200, 400)], "flip_fraction": [0.1, 0.2]}


@pytest.mark.parametrize(
    "items, message",
    [
        (["size=100"], r"--grid size: Unknown setting 'size'.*Did you mean 'sizes'"),
        (["flip_fraction=0.1,abc"], r"--grid flip_fraction: .*expects a float.*'abc'"),
        (["sizes=100,x"], r"expects a comma-separated list.*write each list in brackets"),
        (["seed=1,2"], r"seeds come from --seeds"),
        (["sizes=100", "sizes=200"], r"'sizes' is given twice"),
        (["sizes=100,100"], r"a value is repeated"),
        (["sizes"], r"--grid takes KEY=V1,V2"),
    ],
)
def test_bad_grids_name_the_problem(items, message):
    with pytest.raises(ValueError, match=message):
        parse_grid(get("hopfield-capacity"), items)


def test_a_grid_key_also_set_is_refused():
    with pytest.raises(ValueError, match="given twice"):
        make_plan(get("xor"), ["epochs=1,2"], 2, overrides=["epochs=3"])


def test_bad_seeds_count_is_refused():
    with pytest.raises(ValueError, match="seeds"):
        make_plan(get("xor"), [], 0)


def test_cells_are_settings_major_with_distinct_reproducible_seeds():
    plan = make_plan(get("xor"), ["learning_rate=0.01,0.1", "epochs=5,6"], 3, quick=True)
    cells = plan.cells()
    assert len(cells) == 12 and [c.index for c in cells] == list(range(12))
    assert [c.id for c in cells[:4]] == ["000-s000", "000-s001", "000-s002", "001-s000"]
    assert cells[3].settings == {"learning_rate": 0.01, "epochs": 6}
    assert len({c.seed for c in cells}) == 12
    again = make_plan(get("xor"), ["learning_rate=0.01,0.1", "epochs=5,6"], 3, quick=True)
    assert [c.seed for c in again.cells()] == [c.seed for c in cells]
    child = np.random.SeedSequence(plan.root_seed).spawn(4)[1].spawn(3)[0]
    assert cells[3].seed == int(child.generate_state(1)[0])  # one SeedSequence spawn
    other_root = make_plan(get("xor"), ["epochs=5,6"], 3, quick=True, root_seed=1)
    assert other_root.cells()[0].seed != make_plan(get("xor"), ["epochs=5,6"], 3).cells()[0].seed


def test_a_cell_config_is_the_base_with_its_settings_and_seed():
    plan = make_plan(get("xor"), ["epochs=5,6"], 2, quick=True, overrides=["n_seeds=1"])
    cell = plan.cells()[2]
    config = plan.config(cell)
    assert (config["epochs"], config["n_seeds"], config["seed"]) == (6, 1, cell.seed)
    assert config["curves"] == get("xor").quick["curves"]
