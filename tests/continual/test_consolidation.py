"""The consolidation report's sentence follows the run's values."""

from __future__ import annotations

from engram.experiments.consolidation import text

CONFIG = {"new_items": 20, "nights": 3, "steps_per_night": 10, "cue_fraction": 0.5}


def _metrics(focused_old, interleaved_old, interleaved_new, none_new=0.0):
    return {
        "old_accuracy": {
            "interleaved": [0.9, interleaved_old],
            "focused": [0.9, focused_old],
            "none": [0.9, 0.9],
        },
        "new_accuracy": {
            "interleaved": [0.0, interleaved_new],
            "focused": [0.0, 0.9],
            "none": [0.0, none_new],
        },
        "before": 0.9,
        "recall_label_accuracy": 0.8,
    }


def test_mcclelland_result_stated_only_when_the_values_show_it():
    assert "as McClelland" in text(_metrics(0.1, 0.85, 0.7), CONFIG)
    no_interference = text(_metrics(0.8, 0.85, 0.7), CONFIG)
    assert "did not wipe out" in no_interference and "is not McClelland" in no_interference
    assert "did not add" in text(_metrics(0.1, 0.85, 0.05), CONFIG)


def test_the_cue_fraction_stated_is_the_runs():
    stated = text(_metrics(0.1, 0.85, 0.7), {**CONFIG, "cue_fraction": 0.2})
    assert "cues keeping 20% of the pixels" in stated and "half" not in stated
