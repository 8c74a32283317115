"""Alignment PNGs drawn with Pillow: round ticks, labels, and a PNG with what users read."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from expctl.runlog.alignment import AlignmentScan
from expctl.ui.plots import plot_alignment
from expctl.ui.rasterplot import GREEN, ORANGE, RED, nice_ticks, tick_labels


@pytest.mark.parametrize("lo,hi,step,first,last", [
    (11.3995, 11.4095, 0.002, 11.4, 11.408),
    (-3.2e4, 6.1e5, 1e5, 0.0, 6e5),
    (0.0, 1.0, 0.2, 0.0, 1.0),
])
def test_ticks_are_round_and_cover_the_range(lo, hi, step, first, last) -> None:
    ticks, got = nice_ticks(lo, hi, 7)
    assert got == pytest.approx(step)
    assert ticks[0] == pytest.approx(first) and ticks[-1] == pytest.approx(last)
    assert all(lo <= t <= hi for t in ticks)


def test_tick_labels_carry_the_digits_the_step_needs() -> None:
    ticks, step = nice_ticks(11.3995, 11.4095, 6)
    assert tick_labels(ticks, step) == ["11.400", "11.402", "11.404", "11.406", "11.408"]
    assert tick_labels([-0.25, 0.0, 0.25], 0.25) == ["-0.25", "0.00", "0.25"]
    assert tick_labels([0.0, 2e7], 2e7) == ["0", "2e+07"]


def _scan(moved: dict | None, result: dict) -> AlignmentScan:
    x = np.linspace(11.395, 11.405, 41)
    i0 = np.full(x.size, 100.0)
    y = i0 * (2.0 + 40.0 * np.exp(-0.5 * ((x - 11.4012) / 0.0006) ** 2))
    return AlignmentScan(3, "rock", "theta", x, y, i0, result, moved, signal="mpccd.roi0",
                         step_path="1/spot[0]/4")


def test_the_png_shows_points_fit_centre_and_the_move(tmp_path) -> None:
    result = {"center": 11.4012, "fwhm": 0.0014, "height": 40.0, "background": 2.0,
              "model": "gaussian", "center_err": 1e-5, "fwhm_err": 2e-5, "flags": []}
    png = plot_alignment(_scan({"target": 11.4012, "moved": True}, result),
                         tmp_path / "a" / "scan000003.png")
    image = Image.open(png)
    assert image.format == "PNG" and image.size == (704, 462)
    used = set(np.asarray(image).ravel().tolist())
    assert {ORANGE, GREEN} <= used and RED not in used  # the fit, centre and the move made
    assert len(used) > 20  # anti-aliased text: greys between black and white


def test_a_scan_without_a_fit_or_move_still_draws(tmp_path) -> None:
    png = plot_alignment(_scan({"target": math.nan, "moved": False},
                               {"center": math.nan, "ok": False, "flags": ["no_peak"]}),
                         tmp_path / "scan.png")
    used = set(np.asarray(Image.open(png)).ravel().tolist())
    assert ORANGE not in used and RED not in used  # nothing fitted; the NaN target not drawn


@pytest.mark.parametrize("text", ["rock #6: theta centre 11.401230 ± 0.000010, FWHM 0.0014",
                                  "AVAWAY To", "normalised signal", "-0.25", ""])
def test_text_stamped_from_cached_glyphs_matches_freetype_layout(text) -> None:
    from PIL import ImageDraw

    from expctl.ui.rasterplot import _font, _text_mask

    font = _font(14)
    mask, left, top, advance = _text_mask(text, 14)
    assert advance == pytest.approx(font.getlength(text), abs=0.5)
    reference = Image.new("L", (700, 40))
    ImageDraw.Draw(reference).text((10, 10), text, fill=255, font=font)
    stamped = Image.new("L", (700, 40))
    stamped.paste(mask, (10 + left, 10 + top))
    if not text:
        assert reference.getbbox() is None and stamped.getbbox() is None
        return
    box_ref, box_got = reference.getbbox(), stamped.getbbox()
    assert all(abs(a - b) <= 1 for a, b in zip(box_ref, box_got, strict=True))
    ink_ref, ink_got = (np.asarray(im, dtype=float).sum() for im in (reference, stamped))
    assert ink_got == pytest.approx(ink_ref, rel=0.03)  # the same glyphs, not a stand-in
