"""Markup: the small markdown converter, tables, escaping and the page shell."""

from __future__ import annotations

import re

from engram.viz.markup import (
    breakable,
    html_page,
    html_table,
    markdown_to_html,
    md_table,
    shift_headers,
)


def test_markdown_to_html():
    html = markdown_to_html(
        "# Title\n\nA *b* **c** `d<e>` [x](y.html)\nmore\n\n- one\n- two\n\n"
        "1. first\n\n```\ncode <x>\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |",
        header_offset=1,
    )
    assert "<h2>Title</h2>" in html
    assert "<p>A <em>b</em> <strong>c</strong> <code>d&lt;e&gt;</code> " in html
    assert '<a href="y.html">x</a> more</p>' in html
    assert "<ul><li>one</li><li>two</li></ul>" in html and "<ol><li>first</li></ol>" in html
    assert "<pre><code>code &lt;x&gt;</code></pre>" in html
    assert "<th>a</th>" in html and "<td>2</td>" in html
    assert "snake_case_name" in markdown_to_html("snake_case_name")


def test_markdown_lists_continue_and_headers_shift():
    html = markdown_to_html("- one\n  more\n- two\n# Head")
    assert "<ul><li>one more</li><li>two</li></ul>" in html and "<h1>Head</h1>" in html
    assert shift_headers("# a\n## b\nnot # c", 2) == "### a\n#### b\nnot # c"
    assert shift_headers("###### deep", 3) == "###### deep"


def test_tables_escape_their_cells():
    assert md_table(["a|b"], [["x\ny"]]) == "| a\\|b |\n|---|\n| x y |"
    html = html_table(["<k>"], [["&"]], title="T")
    assert html == (
        "<table><caption>T</caption><thead><tr><th>&lt;k&gt;</th></tr></thead>"
        "<tbody><tr><td>&amp;</td></tr></tbody></table>"
    )


def test_breakable_names_break_between_words_not_inside_numbers():
    assert breakable("solved_by_rate.lr.0.05") == "solved_<wbr>by_<wbr>rate.<wbr>lr.0.05"
    assert breakable("<x>") == "&lt;x&gt;"


def test_page_is_self_contained():
    page = html_page("t <1>", "<p>body</p>")
    assert page.startswith("<!doctype html>") and "<title>t &lt;1&gt;</title>" in page
    assert not re.search(r"<(script|link)", page) and "<style>" in page
