"""A scan drawn in the terminal with plain characters: what SPEC's ``splot`` gives at 3 am.

Pure text (no colours, no cursor movement), so it works over ssh, in the shell
above the prompt and in a ``| tee`` log; it never exceeds the width it is given.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["text_plot"]

#: characters left of the plot area for the y-axis labels
_LABEL_WIDTH = 10


def text_plot(x: Sequence[float], y: Sequence[float], *, width: int = 80, height: int = 16,
              x_label: str = "", y_label: str = "", marks: Sequence[tuple[float, str]] = ()
              ) -> list[str]:
    """Lines of a scatter plot of ``y`` against ``x`` (points ``*``, joined by ``.``).

    Args:
        x, y: the points (non-finite ones are left out).
        width: total width in characters (the plot never exceeds it).
        height: rows of the plot area.
        x_label, y_label: axis captions.
        marks: vertical markers ``(x, character)``, e.g. ``(cen, "|")``.
    """
    pts = [(float(a), float(b)) for a, b in zip(x, y, strict=False)
           if math.isfinite(a) and math.isfinite(b)]
    if len(pts) < 2:
        return [f"(nothing to plot: {len(pts)} finite point{'s' if len(pts) != 1 else ''})"]
    cols = max(10, width - _LABEL_WIDTH - 1)
    rows = max(4, height)
    x0, x1 = min(p[0] for p in pts), max(p[0] for p in pts)
    y0, y1 = min(p[1] for p in pts), max(p[1] for p in pts)
    if x1 == x0:
        x1 = x0 + 1.0
    if y1 == y0:
        y1 = y0 + 1.0

    def col(v: float) -> int:
        return min(cols - 1, max(0, round((v - x0) / (x1 - x0) * (cols - 1))))

    def row(v: float) -> int:
        return min(rows - 1, max(0, round((y1 - v) / (y1 - y0) * (rows - 1))))

    grid = [[" "] * cols for _ in range(rows)]
    for mark_x, char in marks:
        if math.isfinite(mark_x) and x0 <= mark_x <= x1:
            c = col(mark_x)
            for r in range(rows):
                grid[r][c] = char
    ordered = sorted(pts)
    for (ax, ay), (bx, by) in zip(ordered, ordered[1:], strict=False):
        ca, cb = col(ax), col(bx)
        for c in range(ca + 1, cb):  # a dotted line between neighbouring points
            t = (c - ca) / (cb - ca)
            grid[row(ay + t * (by - ay))][c] = "."
    for px, py in pts:
        grid[row(py)][col(px)] = "*"
    lines = []
    for r, cells in enumerate(grid):
        label = _num(y1) if r == 0 else _num(y0) if r == rows - 1 else ""
        lines.append(f"{label:>{_LABEL_WIDTH}}|{''.join(cells).rstrip()}")
    lines.append(" " * _LABEL_WIDTH + "+" + "-" * cols)
    left, right = _num(x0), _num(x1)
    gap = max(1, cols - len(left) - len(right))
    lines.append(" " * (_LABEL_WIDTH + 1) + left + " " * gap + right)
    caption = f"{y_label} vs {x_label}" if y_label and x_label else (y_label or x_label)
    if caption:
        lines.append(" " * (_LABEL_WIDTH + 1) + caption[:cols])
    return [line[:width] for line in lines]


def _num(v: float) -> str:
    return f"{v:.6g}"[:_LABEL_WIDTH]
