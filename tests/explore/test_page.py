"""`engram explore` end to end in headless Chromium (Debian's chromium, driven by Playwright).

Skips with a reason when the browser or the playwright package is absent.
"""

from __future__ import annotations

import json
import os
import threading

import numpy as np
import pytest

from engram.explore import views
from engram.explore.server import make_server
from engram.memory import Hopfield, flip_bits

CHROMIUM = os.environ.get("ENGRAM_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def url():
    srv = make_server(0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv.url
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or ENGRAM_CHROMIUM)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    page = browser.new_page()
    page.problems = []
    page.on("console", lambda m: m.type == "error" and page.problems.append(m.text))
    page.on("pageerror", lambda e: page.problems.append(str(e)))
    page.on("requestfailed", lambda r: page.problems.append(f"request failed: {r.url}"))
    yield page
    page.close()


def _ready(page, address):
    page.goto(address)
    page.wait_for_selector("body[data-ready='1']", timeout=30_000)


def test_page_loads_both_views_without_console_errors(page, url):
    _ready(page, url)
    assert page.is_visible("#hopfield") and not page.is_visible("#train")
    page.click("nav a[data-view='train']")
    assert page.is_visible("#train") and "view=train" in page.url
    assert page.problems == []


def test_store_damage_recall_gives_the_python_apis_state(page, url):
    _ready(page, url + "?seed=3")
    for d in (0, 1, 4, 7):
        page.click(f"#digit-{d}")
        page.click("#store")
    assert "stored=0%2C1%2C4%2C7" in page.url or "stored=0,1,4,7" in page.url
    page.click("#digit-4")
    page.fill("#damage", "0.25")  # a range input takes its value
    page.click("#damage-btn")
    page.wait_for_function(
        "document.getElementById('recall-status').textContent.includes('flipped')"
    )
    page.click("#recall")
    page.wait_for_selector("#recall-status[data-state]", timeout=30_000)
    shown = json.loads(page.get_attribute("#recall-status", "data-state"))

    digits = np.array(views.digit_patterns()["patterns"], np.float32)
    cue = flip_bits(digits[4], 0.25, seed=3)
    net = Hopfield("hebb").store(digits[[0, 1, 4, 7]])
    expected = net.recall(cue, update="sync", max_steps=20).states[0]
    assert shown == expected.astype(int).tolist()
    assert page.problems == []


def test_settings_in_the_url_restore_the_view(page, url):
    _ready(page, url + "?view=train&dataset=spirals&layers=16,16&lr=0.01&epochs=40")
    assert page.is_visible("#train")
    assert page.input_value("#dataset") == "spirals"
    assert page.input_value("#layers") == "16,16"
    assert page.input_value("#lr") == "0.01" and page.input_value("#epochs") == "40"
    _ready(page, url + "?stored=2,3&digit=3")
    assert page.locator("#stored canvas").count() == 2
    assert page.problems == []


def test_training_updates_the_curve_while_it_trains(page, url):
    _ready(page, url + "?view=train&dataset=moons&layers=8&lr=0.05&epochs=20")
    page.evaluate(
        """() => {
            window.seenEpochs = [];
            const status = document.getElementById('train-status');
            new MutationObserver(() => window.seenEpochs.push(status.dataset.epoch))
                .observe(status, {attributes: true, attributeFilter: ['data-epoch']});
        }"""
    )
    page.click("#train-btn")
    page.wait_for_selector("#train-status[data-epoch='20']", timeout=60_000)
    seen = [int(e) for e in page.evaluate("window.seenEpochs")]
    assert seen[0] == 5 and seen[-1] == 20 and seen == sorted(seen) and len(set(seen)) == 4
    loss = json.loads(page.get_attribute("#train-status", "data-loss"))
    assert len(loss) == 20 and loss[-1] < loss[0]
    assert "dataset=moons" in page.url and "epochs=20" in page.url
    pixels = page.evaluate(
        "() => Array.from(document.getElementById('loss').getContext('2d')"
        ".getImageData(0, 0, 320, 220).data).filter((v, i) => i % 4 === 3 && v > 0).length"
    )
    assert pixels > 100  # the curve was drawn
    assert page.problems == []


def test_raising_the_load_breaks_recall_past_0_138(page, url):
    _ready(page, url + "?n=200")
    page.click("#capacity-btn")
    page.wait_for_selector("#capacity-status[data-recalled]", timeout=60_000)
    recalled = json.loads(page.get_attribute("#capacity-status", "data-recalled"))
    expected = views.capacity_curve(n_units=200, seed=0)["recalled"]
    assert recalled == expected and recalled[0] == 1.0 and recalled[-1] < 0.5
    assert "n=200" in page.url and page.problems == []


def test_kuramoto_view_runs_and_sweeps_with_settings_in_the_url(page, url):
    _ready(page, url + "?view=kuramoto&kn=300&K=2&kd=20&kseed=2")
    assert page.is_visible("#kuramoto") and page.input_value("#k-coupling") == "2"
    page.click("#k-run")
    page.wait_for_selector("#k-status[data-r]", timeout=60_000)
    shown = json.loads(page.get_attribute("#k-status", "data-r"))
    expected = views.kuramoto(n=300, coupling=2.0, width=0.5, duration=20, seed=2)["r"]
    assert shown == expected
    assert "K=2" in page.url and "kn=300" in page.url
    page.click("#k-sweep")
    page.wait_for_selector("#k-sweep-status[data-r]", timeout=60_000)
    assert page.problems == []
