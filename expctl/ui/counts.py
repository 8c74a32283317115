"""``ct`` as an operator reads it: each signal's mean ± shot-to-shot σ with its unit, and the
normalised signal Σsignal/ΣI0 with its standard error (the estimator reduction uses)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from expctl.ui.scanview import number_text

__all__ = ["count_summary", "format_counts"]


def count_summary(readings: Sequence[Mapping[str, Any]], signal: str | None = None,
                  i0: str | None = None) -> dict[str, dict[str, float]]:
    """Per numeric signal ``{"mean", "sigma", "n"}``; plus ``signal/i0`` as
    ``{"mean": Σs/ΣI0, "sigma": its standard error, "n"}`` when both were read.

    NaN shots (a dropped frame) are left out of that signal's numbers.
    """
    keys = sorted({k for r in readings for k, v in r.items()
                   if isinstance(v, int | float) and not isinstance(v, bool)})
    out: dict[str, dict[str, float]] = {}
    for key in keys:
        v = np.array([float(r.get(key, math.nan)) for r in readings])
        v = v[np.isfinite(v)]
        out[key] = {"mean": float(v.mean()) if v.size else math.nan,
                    "sigma": float(v.std(ddof=1)) if v.size > 1 else math.nan,
                    "n": float(v.size)}
    if signal and i0 and signal in out and i0 in out:
        s = np.array([float(r.get(signal, math.nan)) for r in readings])
        m = np.array([float(r.get(i0, math.nan)) for r in readings])
        ok = np.isfinite(s) & np.isfinite(m)
        s, m = s[ok], m[ok]
        total = float(m.sum())
        ratio = float(s.sum()) / total if total > 0 else math.nan
        # delta method: the spread of s - R·I0 over Σ I0
        err = (float(np.std(s - ratio * m, ddof=1)) * math.sqrt(s.size) / total
               if s.size > 1 and total > 0 else math.nan)
        out[f"{signal}/{i0}"] = {"mean": ratio, "sigma": err, "n": float(s.size)}
    return out


def format_counts(summary: Mapping[str, Mapping[str, float]], units: Mapping[str, str], *,
                  ratio: str | None = None) -> list[str]:
    """One line per signal: ``  mpccd.roi0    12345 ± 678 ADU``; the ratio line says what
    its ± is."""
    # a saturation fraction says something only when it is not zero
    shown = {k: s for k, s in summary.items() if not (k.endswith(".saturated") and not s["mean"])}
    # measured quantities first, then unitless states and fractions (beam on), the ratio last
    shown = dict(sorted(shown.items(), key=lambda kv: (kv[0] == ratio, not units.get(kv[0]))))
    if not shown:
        return ["  nothing numeric was read"]
    width = max(len(k) for k in shown)
    lines = []
    for key, s in shown.items():
        unit = units.get(key, "")
        sigma = "" if not math.isfinite(s["sigma"]) else f" ± {number_text(s['sigma'], 3)}"
        note = ("   (Σ signal / Σ I0 ± standard error)" if key == ratio
                else "" if key != next(iter(shown)) else "   (mean ± σ per shot)")
        lines.append(f"  {key:<{width}}  {number_text(s['mean'])}{sigma}"
                     f"{' ' + unit if unit else ''}{note}")
    return lines
