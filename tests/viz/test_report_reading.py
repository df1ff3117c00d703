"""Reports a student can read: the opening, the findings as cards, math, glossary, the lesson."""

from __future__ import annotations

import pytest

from engram.experiments import Experiment, Result, lesson_of
from engram.viz.glossary import link_terms, terms, used_terms
from engram.viz.markup import markdown_to_html
from engram.viz.report import ReportEntry, index_rows, write_report

EXPERIMENT = Experiment("demo", "A demo.", "Someone (1982).", {"seed": 0}, {}, lambda c: Result())
CONFIG = {"seed": 0, "verbose": 0}


def reading_result(**overrides) -> Result:
    fields = dict(
        metrics={"internal_count": 640, "recall": {"modern": 0.98, "classic": 0.25}},
        text="The Hopfield network's energy fell at every step. Formula: $E = -s^T W s / 2$.",
        opening="The modern memory recalled 98% of the cues; the classic one 25%.",
        headline={"recall.modern": "recall, modern Hopfield", "recall.classic": "recall, classic"},
    )
    return Result(**(fields | overrides))


def test_report_opens_with_the_sentences_and_shows_the_findings_as_cards(tmp_path):
    paths = write_report(reading_result(), EXPERIMENT, CONFIG, tmp_path, elapsed_s=1.0)
    md = paths["report.md"].read_text()
    html = paths["report.html"].read_text()
    assert md.index("**What this run showed.** The modern memory") < md.index("energy fell")
    assert "| recall, modern Hopfield | 0.98 |" in md
    cards = html[html.index('<div class="cards">') : html.index('<div class="text">')]
    assert "recall, modern Hopfield" in cards and "0.98" in cards
    assert "internal_count" not in cards  # an internal number is no finding
    assert html.index('class="opening"') < html.index('class="cards"')


def test_a_headline_key_the_metrics_lack_is_refused_before_anything_is_written(tmp_path):
    bad = reading_result(headline={"recall.hopfield": "recall"})
    with pytest.raises(KeyError, match="recall.hopfield"):
        write_report(bad, EXPERIMENT, CONFIG, tmp_path, elapsed_s=1.0)
    assert list(tmp_path.iterdir()) == []


def test_index_names_the_first_finding():
    entry = ReportEntry("demo", "ok", 1.0, EXPERIMENT, CONFIG, reading_result())
    assert index_rows([entry])[0][3] == "recall, modern Hopfield = 0.98"


def test_math_is_mathml_and_cannot_open_a_tag():
    html = markdown_to_html(r"Theory: $r = \sqrt{1 - K_c/K}$; odd: $\text{<script>x} a<b$.")
    assert html.count("<math") == 2 and "<msqrt>" in html
    assert "<script" not in html
    assert "<code>" not in html  # both formulas were read
    assert markdown_to_html("Code `$x$` stays code.") == "<p>Code <code>$x$</code> stays code.</p>"


def test_glossary_terms_link_once_and_are_defined_at_the_end(tmp_path):
    linked = link_terms("An attractor, another attractor, and `attractor` in code.")
    assert linked.count("(#term-attractor)") == 1
    assert linked.startswith("An [attractor](#term-attractor), another attractor")
    # the longer term wins over its prefix
    assert "[backpropagation through time](#term-backpropagation-through-time)" in link_terms(
        "Trained by backpropagation through time."
    )
    html = write_report(reading_result(), EXPERIMENT, CONFIG, tmp_path, elapsed_s=1.0)[
        "report.html"
    ].read_text()
    assert '<a class="term" href="#term-hopfield-network">Hopfield network</a>' in html
    assert '<dt id="term-hopfield-network">Hopfield network</dt>' in html
    assert '<dt id="term-energy">' in html


def test_every_glossary_entry_has_a_definition():
    assert len(terms()) >= 30
    assert all(len(t.definition) > 40 for t in terms())
    assert [t.name for t in used_terms("nothing to see")] == []


def test_every_lesson_experiment_has_a_read_more_line(tmp_path):
    line = lesson_of("hopfield-capacity")
    assert line == (
        "Read more: lesson 4, Hebbian learning and Hopfield memory "
        "(docs/lessons/04-hebbian-hopfield.md)."
    )
    assert lesson_of("not-an-experiment") == ""
    paths = write_report(
        reading_result(), EXPERIMENT, CONFIG, tmp_path, elapsed_s=1.0, read_more=line
    )
    assert line in paths["report.md"].read_text()


def test_progress_line_shows_validation_in_80_columns():
    import io

    from tqdm import tqdm

    from engram.experiments.base import epoch_progress

    logs = {"loss": 0.69, "accuracy": 0.536, "val_loss": 0.693, "val_accuracy": 0.527}
    (callback,) = epoch_progress("random labels", verbose=1)
    callback.set_params({"epochs": 20})
    out = io.StringIO()
    callback.on_train_begin()
    callback.bar.close()
    callback.bar = tqdm(total=20, file=out, ncols=80, bar_format=callback.bar.bar_format)
    callback.on_epoch_end(0, logs)
    line = out.getvalue().split("\r")[-1].rstrip("\n")
    assert len(line) <= 80
    assert line.endswith("random labels  loss 0.690 acc 0.536 | val loss 0.693 acc 0.527")
