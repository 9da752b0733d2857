"""The review report: one self-contained HTML file, rendered by headless Chromium.

The page is checked where a player would look at it: in a browser with no
network (every picture is inside the file) and printed to PDF (the thumbnails
are in the print).
"""

from __future__ import annotations

import base64
import io
import re
import subprocess

import numpy as np
import pytest
from PIL import Image

from app.review.report import write_report
from app.review.session import ReviewSession
from app.sources.synthetic import write_test_video
from models.engine.records import ChunkDone
from tests.real_programs import Chromium, require


@pytest.fixture
def review(tmp_path):
    clip = write_test_video(tmp_path / "match.mp4", seconds=4, fps=10, size=(320, 240))
    with ReviewSession(clip) as review:
        review.add_mark(1.0, t_out=2.5, tag="attack", label="Overload <left>", text="Winger stays wide")
        review.add_mark(3.0, tag="set piece", label="Corner")
        review.add_note(0.5, "Kick-off shape")
        review.add_qa(2.0, "Who presses?", "The striker & the left winger.")
        review.add_chunk(ChunkDone(0, 0.0, 3.0, "The ball moves to the left"))
        review.add_chunk(ChunkDone(1, 3.0, 4.0, " "))
        yield review


def test_the_report_holds_every_moment_with_an_inline_thumbnail_and_nothing_from_the_network(review, tmp_path):
    page = write_report(review, tmp_path / "report.html").read_text()
    thumbs = re.findall(r'src="data:image/jpeg;base64,([^"]+)"', page)
    assert len(thumbs) == 3  # one per mark and note
    assert Image.open(io.BytesIO(base64.b64decode(thumbs[0]))).size == (320, 240)
    assert "Overload &lt;left&gt;" in page and "The striker &amp; the left winger." in page
    assert "The ball moves to the left" in page and "Kick-off shape" in page
    assert page.index("Kick-off shape") < page.index("Overload") < page.index("Corner")  # by time
    assert "attack: 1" in page and "set piece: 1" in page and "untagged: 1" in page
    assert not re.search(r"(src|href)=\"(https?:)?//", page) and "@import" not in page


@pytest.fixture(scope="module")
def browser():
    require("chromium")
    chromium = Chromium(900, 900)
    yield chromium
    chromium.close()


def test_the_report_renders_its_pictures_in_chromium_and_prints_them(review, tmp_path, browser):
    path = write_report(review, tmp_path / "report.html")
    browser.open(path.as_uri())
    assert browser.wait_for("[...document.images].every(i => i.complete && i.naturalWidth === 320)")
    box = browser.evaluate("(r => [r.x, r.y, r.width, r.height])(document.images[0].getBoundingClientRect())")
    png = browser.screenshot()
    (tmp_path / "report.png").write_bytes(png)
    shot = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    assert shot.std() > 10  # not a blank page
    x, y, w, h = (round(v) for v in box)
    picture = shot[y + 2 : y + h - 2, x + 2 : x + w - 2]
    assert picture.size and picture.std() > 20  # the video frame, not an empty box
    assert (shot[2:12, 2:20] == 255).all()  # white paper around the content

    pdf = base64.b64decode(browser.call("Page.printToPDF", printBackground=True)["data"])
    assert pdf.startswith(b"%PDF")
    assert pdf.count(b"/Subtype /Image") >= 3
    assert len(re.findall(rb"/Type\s*/Page\b", pdf)) >= 2  # the transcript starts a page of its own


def _blue_bands(page: np.ndarray) -> int:
    """How many separate horizontal bands of the drawings' blue a page image holds."""
    r, g, b = (page[..., i].astype(int) for i in range(3))
    rows = ((b > 200) & (r < 90) & (g > 80) & (g < 160)).sum(axis=1) >= 8
    starts = rows & ~np.concatenate(([False], rows[:-1]))
    return int(starts.sum())


def test_the_pdf_print_shows_every_thumbnail_with_its_drawing(tmp_path, browser):
    """Printed to PDF and turned into images (poppler), each moment's picture is on paper."""
    from app.review.drawings import Shape

    require("pdftoppm")
    clip = write_test_video(tmp_path / "match.mp4", seconds=4, fps=10, size=(320, 240))
    with ReviewSession(clip) as review:
        for t, label in ((0.5, "Kick-off"), (1.5, "Press"), (3.0, "Corner")):
            review.add_mark(t, tag="attack", label=label, text="Note " * 40)
        review.add_drawing(0.2, [Shape("line", ((0.1, 0.5), (0.9, 0.5)), "blue", 0.06)], hold_s=3.5)
        review.add_chunk(ChunkDone(0, 0.0, 4.0, "The ball moves to the left"))
        path = write_report(review, tmp_path / "report.html")
    browser.open(path.as_uri())
    assert browser.wait_for("[...document.images].every(i => i.complete && i.naturalWidth === 320)")
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(base64.b64decode(browser.call("Page.printToPDF", printBackground=True)["data"]))
    subprocess.run(["pdftoppm", "-r", "60", "-png", str(pdf), str(tmp_path / "page")], check=True, timeout=60)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= 2  # the transcript starts a page of its own
    images = [np.asarray(Image.open(p).convert("RGB")) for p in pages]
    assert sum(_blue_bands(image) for image in images) == 3  # three thumbnails, each with its bar
    assert _blue_bands(images[-1]) == 0  # the transcript page has no pictures


def test_a_thumbnail_shows_the_drawings_held_at_its_moment(tmp_path):
    from app.review.drawings import Shape

    clip = write_test_video(tmp_path / "drawn.mp4", seconds=4, fps=10, size=(320, 240))
    bar = Shape("line", ((0.1, 0.3), (0.9, 0.3)), "blue", 0.05)
    with ReviewSession(clip) as review:
        review.add_mark(1.0, label="Drawn on")
        review.add_mark(3.0, label="After the hold")
        review.add_drawing(1.0, [bar], hold_s=1.0)
        page = write_report(review, tmp_path / "report.html").read_text()
    drawn, plain = (
        np.asarray(Image.open(io.BytesIO(base64.b64decode(t))).convert("RGB")).astype(int)
        for t in re.findall(r'src="data:image/jpeg;base64,([^"]+)"', page)
    )
    r, g, b = drawn[70:74, 150:170].reshape(-1, 3).mean(0)  # the bar's middle, y = 0.3
    assert b > 170 and r < 110
    assert plain[70:74, 150:170, 2].mean() < 120  # no drawing at 3 s


def test_moments_link_to_their_clips_relative_to_the_report(review, tmp_path):
    first = review.marks()[1]  # the ranged mark
    clip_file = tmp_path / "clips" / "01-0m01s-attack overload.mp4"
    page = write_report(review, tmp_path / "report.html", clips={first.id: clip_file}).read_text()
    assert page.count('href="clips/01-0m01s-attack%20overload.mp4"') == 2  # the picture and "Clip"
    nested = write_report(review, tmp_path / "out" / "report.html", clips={first.id: clip_file}).read_text()
    assert 'href="../clips/01-0m01s-attack%20overload.mp4"' in nested
    assert "href=" not in write_report(review, tmp_path / "plain.html").read_text()
