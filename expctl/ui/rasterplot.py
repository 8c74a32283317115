"""A line plot drawn straight into pixels with Pillow: an alignment PNG in milliseconds.

matplotlib costs ~0.7 s to import and ~0.2 s of CPU per alignment PNG on these machines,
more than the rest of a campaign's logging (ADR 16).  An alignment plot needs little of
it: points, a curve, vertical markers, ticks with labels, a title, a legend and a note.
:class:`RasterPlot` draws exactly that on a white palette canvas with Pillow (already a
matplotlib dependency) and writes the PNG with zlib's run-length strategy (a plot is
long runs of white).  The text font is matplotlib's own DejaVu Sans when it is installed
(found without importing matplotlib), else Pillow's built-in scalable font.

Rendering glyphs is most of a plot's cost, and most strings (tick labels, axis labels,
legend entries) recur from one alignment plot to the next: each string is rendered once
per size into a coverage mask, kept in a bounded cache, and stamped where it is drawn.
Plots are drawn on a thread beside the engine, so every millisecond saved here is one
the engine does not wait for the GIL.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Sequence
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["RasterPlot", "nice_ticks", "tick_labels"]

#: The canvas is a palette image (a PNG of it is written ~25× faster than an RGB one):
#: indices 0..247 are a grey ramp, so anti-aliased text blends black into white through
#: real greys; the colours of lines and points follow it.
_RAMP = 248
_COLOURS = ((255, 127, 14), (44, 160, 44), (214, 39, 40))  # matplotlib's tab: colours


def grey(level: int) -> int:
    """The palette index of a grey (0 black … 255 white)."""
    return round(level * (_RAMP - 1) / 255)


BLACK, WHITE = grey(0), grey(255)
GREY, GRID, FRAME = grey(77), grey(232), grey(204)
ORANGE, GREEN, RED = range(_RAMP, _RAMP + len(_COLOURS))
PALETTE = [round(i * 255 / (_RAMP - 1)) for i in range(_RAMP) for _ in range(3)] + [
    c for rgb in _COLOURS for c in rgb]
#: fraction of the data range left free at each side (as matplotlib's autoscale does)
MARGIN = 0.05


@cache
def _font(size: int) -> Any:
    """DejaVu Sans at ``size`` pixels (matplotlib's face), else Pillow's default face.

    Laid out by FreeType alone (Pillow's basic layout): plot text is short Latin text,
    for which HarfBuzz shaping (raqm) changes nothing but costs ~50 % more.
    """
    from PIL import ImageFont

    spec = importlib.util.find_spec("matplotlib")
    if spec is not None and spec.origin is not None:
        ttf = Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"
        if ttf.is_file():
            return ImageFont.truetype(str(ttf), size, layout_engine=ImageFont.Layout.BASIC)
    return ImageFont.load_default(size)


#: strings kept rendered (a campaign's plots share most of theirs; ~2 kB each)
TEXT_CACHE = 512


@cache
def _glyph(char: str, size: int) -> tuple[np.ndarray, int, int, float]:
    """One character rendered once: ``(coverage, left, top, advance)``, its coverage at
    ``(left, top)`` from the pen (FreeType loads and hints a glyph on every use, ~5 µs)."""
    from PIL import Image, ImageDraw

    font = _font(size)
    left, top, right, bottom = font.getbbox(char)
    mask = Image.new("L", (max(1, right - left), max(1, bottom - top)))
    ImageDraw.Draw(mask).text((-left, -top), char, fill=255, font=font)
    return np.asarray(mask), left, top, font.getlength(char)


@cache
def _kerning(pair: str, size: int) -> float:
    """How much closer (negative) the font sets the two characters of ``pair``."""
    font = _font(size)
    return font.getlength(pair) - font.getlength(pair[0]) - font.getlength(pair[1])


@lru_cache(maxsize=TEXT_CACHE)
def _text_mask(text: str, size: int, turned: bool = False) -> tuple[Any, int, int, float]:
    """``text`` at ``size`` as ``(coverage mask, left, top, advance)``, stamped from cached
    glyphs on the pen positions FreeType's own layout uses (advances and kerning, each
    glyph on a whole pixel); the mask goes at ``(x + left, y + top)`` for the origin
    ``(x, y)``.  ``turned``: a quarter turn to the left (the y label), ``left = top = 0``."""
    from PIL import Image

    pen, placed = 0.0, []
    for k, char in enumerate(text):
        if k:
            pen += _kerning(text[k - 1:k + 1], size)
        mask, left, top, advance = _glyph(char, size)
        placed.append((mask, round(pen) + left, top))
        pen += advance
    x0 = min((x for _, x, _ in placed), default=0)
    y0 = min((y for _, _, y in placed), default=0)
    x1 = max((x + m.shape[1] for m, x, _ in placed), default=1)
    y1 = max((y + m.shape[0] for m, _, y in placed), default=1)
    coverage = np.zeros((max(1, y1 - y0), max(1, x1 - x0)), dtype=np.uint8)
    for mask, x, y in placed:  # (where glyphs overlap, the darker one wins)
        area = coverage[y - y0:y - y0 + mask.shape[0], x - x0:x - x0 + mask.shape[1]]
        np.maximum(area, mask, out=area)
    out = Image.fromarray(coverage)
    if turned:
        return out.rotate(90, expand=True), 0, 0, pen
    return out, x0, y0, pen


def nice_ticks(lo: float, hi: float, most: int = 7) -> tuple[list[float], float]:
    """Round tick values (steps of 1, 2, 2.5 or 5 × 10^k) covering ``[lo, hi]``."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo], 1.0
    raw = (hi - lo) / most
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * power >= raw)
    first = math.ceil(lo / step - 1e-9)
    last = math.floor(hi / step + 1e-9)
    return [k * step for k in range(first, last + 1)], step


def tick_labels(ticks: Sequence[float], step: float) -> list[str]:
    """Labels with as many decimals as the step needs (scientific for very large or small)."""
    biggest = max((abs(t) for t in ticks), default=0.0)
    if biggest >= 1e7 or (0 < biggest < 1e-3):
        return [f"{t:.3g}" for t in ticks]
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    if decimals and round(step / 10.0 ** -decimals, 6) % 1:  # a step of 2.5 × 10^k
        decimals += 1
    return [f"{0.0 if abs(t) < step * 1e-9 else t:.{decimals}f}" for t in ticks]


class RasterPlot:
    """One axes on a white canvas; draw data in data coordinates, then :meth:`save`.

    Args:
        x_range, y_range: the data limits (a margin of :data:`MARGIN` is added).
        size: canvas width and height in pixels.
    """

    def __init__(self, x_range: tuple[float, float], y_range: tuple[float, float],
                 size: tuple[int, int] = (704, 462)) -> None:
        self.width, self.height = size
        self.image = _canvas(size)
        from PIL import ImageDraw

        self.draw = ImageDraw.Draw(self.image)
        self.box = (92, 39, self.width - 21, self.height - 55)  # left, top, right, bottom
        self.x0, self.x1 = _padded(*x_range)
        self.y0, self.y1 = _padded(*y_range)
        self._legend: list[tuple[str, str, int]] = []
        self._grid_and_ticks()

    # -- coordinates --------------------------------------------------------------------
    def px(self, x: np.ndarray | float) -> np.ndarray:
        """Pixel columns of data ``x``."""
        left, _, right, _ = self.box
        scale = (right - left) / (self.x1 - self.x0)
        return left + (np.asarray(x, dtype=float) - self.x0) * scale

    def py(self, y: np.ndarray | float) -> np.ndarray:
        """Pixel rows of data ``y`` (upwards)."""
        _, top, _, bottom = self.box
        scale = (bottom - top) / (self.y1 - self.y0)
        return bottom - (np.asarray(y, dtype=float) - self.y0) * scale

    # -- artists ------------------------------------------------------------------------
    def points(self, x: np.ndarray, y: np.ndarray, label: str, color: int = BLACK,
               radius: int = 3) -> None:
        ok = np.isfinite(x) & np.isfinite(y)
        for u, v in zip(self.px(x[ok]).tolist(), self.py(y[ok]).tolist(), strict=True):
            self.draw.ellipse((u - radius, v - radius, u + radius, v + radius), fill=color)
        self._legend.append(("o", label, color))

    def curve(self, x: np.ndarray, y: np.ndarray, label: str, color: int = ORANGE,
              width: int = 2) -> None:
        ok = np.isfinite(x) & np.isfinite(y)
        pts = list(zip(self.px(x[ok]).tolist(), self.py(y[ok]).tolist(), strict=True))
        if len(pts) > 1:
            self.draw.line(pts, fill=color, width=width, joint="curve")
        self._legend.append(("-", label, color))

    def vline(self, x: float, color: int, *, dashed: bool = False, width: int = 1,
              label: str | None = None) -> None:
        """A vertical line across the axes (dashed: 5 px on, 2 px off)."""
        if not math.isfinite(x):
            return
        u = float(self.px(x))
        _, top, _, bottom = self.box
        if dashed:  # (one stamp, not a line call per dash)
            self.draw.bitmap((round(u - (width - 1) / 2), top), _dashes(width, bottom - top),
                             fill=color)
        else:
            self.draw.line((u, top, u, bottom), fill=color, width=width)
        if label:
            self._legend.append(("-", label, color))

    def title(self, text: str, size: int = 14) -> None:
        self.text(((self.width - _advance(text, size)) / 2, 12), text, size)

    def text(self, xy: tuple[float, float], text: str, size: int, color: int = BLACK, *,
             turned: bool = False) -> None:
        """``text`` with its origin at ``xy`` (rounded to a pixel), rendered once per size."""
        mask, left, top, _ = _text_mask(text, size, turned)
        self.draw.bitmap((round(xy[0]) + left, round(xy[1]) + top), mask, fill=color)

    def labels(self, x_label: str, y_label: str, size: int = 15) -> None:
        """Axis labels: x under the tick labels, y turned a quarter to the left."""
        left, top, right, bottom = self.box
        self.text(((left + right - _advance(x_label, size)) / 2, bottom + 26), x_label, size)
        turned = _text_mask(y_label, size, True)[0]
        self.text((7, (top + bottom - turned.height) // 2), y_label, size, turned=True)

    def note(self, lines: Sequence[str], size: int = 11) -> None:
        """Small grey text in the upper-left corner of the axes."""
        left, top, _, _ = self.box
        for k, line in enumerate(lines):
            self.text((left + 5, top + 4 + k * (size + 2)), line, size, GREY)

    def legend(self, size: int = 12) -> None:
        """The labelled artists, in a framed box in the upper-right corner of the axes."""
        if not self._legend:
            return
        row = size + 7
        text_w = max(_advance(label, size) for _, label, _ in self._legend)
        _, top, right, _ = self.box
        x1, y0 = right - 6, top + 6
        x0 = x1 - text_w - 44
        self.draw.rectangle((x0, y0, x1, y0 + row * len(self._legend) + 6),
                            fill=WHITE, outline=FRAME)
        for k, (kind, label, color) in enumerate(self._legend):
            cy = y0 + 6 + k * row + row / 2
            if kind == "o":
                self.draw.ellipse((x0 + 14, cy - 3, x0 + 20, cy + 3), fill=color)
            else:
                self.draw.line((x0 + 6, cy, x0 + 30, cy), fill=color, width=2)
            self.text((x0 + 38, cy - size / 2 - 2), label, size)

    def save(self, path: Path) -> Path:
        """Frame the axes and write the PNG (zlib's run-length strategy, ``Z_RLE``: 25 %
        faster than level 1, ~5 % larger).  Named by a ``.png`` path, Pillow imports only
        its PNG writer; ``format="PNG"`` would import five (~15 ms of CPU beside the engine)."""
        self.draw.rectangle(self.box, outline=BLACK)
        fmt = None if Path(path).suffix.lower() == ".png" else "PNG"
        self.image.save(path, format=fmt, compress_level=1, compress_type=_Z_RLE)
        return path

    def _grid_and_ticks(self, size: int = 13) -> None:
        left, top, right, bottom = self.box
        xt, xs = nice_ticks(self.x0, self.x1, 6)
        for t, text in zip(xt, tick_labels(xt, xs), strict=True):
            u = float(self.px(t))
            self.draw.line((u, top, u, bottom), fill=GRID)
            self.draw.line((u, bottom, u, bottom + 4), fill=BLACK)
            self.text((u - _advance(text, size) / 2, bottom + 6), text, size)
        yt, ys = nice_ticks(self.y0, self.y1, 7)
        for t, text in zip(yt, tick_labels(yt, ys), strict=True):
            v = float(self.py(t))
            self.draw.line((left, v, right, v), fill=GRID)
            self.draw.line((left - 4, v, left, v), fill=BLACK)
            self.text((left - 7 - _advance(text, size), v - size / 2 - 1), text, size)


@cache
def _dashes(width: int, height: int) -> Any:
    """A vertical dashed line's mask: 5 px on, 2 px off (as lines of 4 px every 7 px drew)."""
    from PIL import Image

    rows = np.where(np.arange(height + 1) % 7 <= 4, 255, 0).astype(np.uint8)
    return Image.fromarray(np.repeat(rows[:, None], width, axis=1))


#: zlib's Z_RLE strategy
_Z_RLE = 3


def _advance(text: str, size: int) -> float:
    """How far ``text`` at ``size`` advances the pen (its width as laid out), in pixels."""
    return _text_mask(text, size)[3]


def _canvas(size: tuple[int, int]) -> Any:
    from PIL import Image

    image = Image.new("P", size, WHITE)
    image.putpalette(PALETTE)
    return image


def _padded(lo: float, hi: float) -> tuple[float, float]:
    """Limits with a margin; a range of one value (or none) gets a unit-sized one."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return 0.0, 1.0
    if hi <= lo:
        half = abs(lo) * 0.05 or 0.5
        return lo - half, lo + half
    pad = (hi - lo) * MARGIN
    return lo - pad, hi + pad
