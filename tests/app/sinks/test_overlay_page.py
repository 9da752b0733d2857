"""The overlay page in a real browser (Debian's headless Chromium), as OBS's Browser Source loads it."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from app.sinks.overlay_server import OverlayServer
from models.engine.records import ChunkDone, ChunkStarted, CommentaryDelta
from tests.real_programs import Chromium, require

WIDTH, HEIGHT = 800, 300
DONE = "document.getElementById('done').textContent"
CURRENT = "document.getElementById('cur').textContent"


@pytest.fixture(scope="module")
def browser():
    require("chromium")
    chromium = Chromium(WIDTH, HEIGHT)
    yield chromium
    chromium.close()


@pytest.fixture
def server():
    with OverlayServer(port=0) as s:
        yield s


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))


def test_commentary_appears_word_by_word_on_a_transparent_page(browser, server):
    browser.open(server.url + "?background_opacity=0&color=FFFF00")
    empty = pixels(browser.screenshot())
    assert empty[..., 3].max() == 0  # nothing drawn before there is text: OBS shows the scene through it

    server.handle(ChunkStarted(0, 0.0, 3.0))
    server.handle(CommentaryDelta(0.0, 3.0, " Goal"))
    assert browser.wait_for(f"{CURRENT} === 'Goal'")
    server.handle(CommentaryDelta(0.0, 3.0, " for"))
    assert browser.wait_for(f"{CURRENT} === 'Goal for'")
    server.handle(ChunkDone(0, 0.0, 3.0, " Goal for Spain!"))
    assert browser.wait_for(f"{DONE} === 'Goal for Spain!'")

    shot = pixels(browser.screenshot())
    alpha = shot[..., 3]
    assert alpha[: HEIGHT // 3].max() == 0  # the top stays transparent: captions sit at the bottom
    assert (alpha[:, :20] == 0).all() and (alpha[:, -20:] == 0).all()  # centred, margins transparent
    opaque = shot[alpha == 255]
    yellow = (opaque[:, 0] > 200) & (opaque[:, 1] > 200) & (opaque[:, 2] < 80)
    assert yellow.sum() > 200  # caption glyphs, in the colour the URL asked for
    assert ((opaque[:, :3] < 60).all(axis=1)).sum() > 200  # and their black outline


def test_a_page_opened_mid_stream_shows_the_current_lines_and_keeps_only_the_last_ones(browser, server):
    for i in range(12):
        server.handle(ChunkDone(i, i, i + 1.0, f" sentence number {i} goes on and on"))
    browser.open(server.url + "?lines=1&size=40")
    assert browser.wait_for(f"{DONE}.endsWith('number 11 goes on and on')")
    height = browser.evaluate("document.getElementById('clip').getBoundingClientRect().height")
    line = browser.evaluate("parseFloat(getComputedStyle(document.getElementById('text')).lineHeight)")
    assert height == pytest.approx(line, abs=2)  # one line shown, the older ones clipped away


def test_url_parameters_override_the_style_and_bad_values_fall_back(browser, server):
    browser.open(server.url + "?align=left&size=55&bold=0&font=DejaVu%20Serif&fade=0&lines=abc")
    style = browser.evaluate(
        "(() => { const s = getComputedStyle(document.getElementById('text'));"
        " return [s.textAlign, s.fontSize, s.fontWeight, s.fontFamily]; })()"
    )
    assert style[:3] == ["left", "55px", "400"]
    assert "DejaVu Serif" in style[3]
    assert browser.evaluate("style.lines") == 2  # "abc" is no number: the default


def test_the_page_reconnects_by_itself_when_the_server_comes_back(browser):
    first = OverlayServer(port=0).start()
    port = first.port
    browser.open(first.url)
    first.handle(ChunkDone(0, 0, 1, " before"))
    assert browser.wait_for(f"{DONE} === 'before'")
    first.close()
    with OverlayServer(port=port) as second:  # the app restarted on the same port
        second.handle(ChunkDone(0, 0, 1, " after the restart"))
        assert browser.wait_for(f"{DONE} === 'after the restart'")


def test_text_fades_out_after_the_chosen_time(browser, server):
    browser.open(server.url + "?fade=0.2")
    server.handle(ChunkDone(0, 0, 1, " fleeting"))
    assert browser.wait_for(f"{DONE} === 'fleeting'")
    assert browser.wait_for(
        f"{DONE} === '' && getComputedStyle(document.getElementById('box')).visibility === 'hidden'"
    )
