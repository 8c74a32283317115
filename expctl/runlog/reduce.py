"""Reduction of runs into a delay cube (the smalldata "cube" convention).

Shots of the selected runs are filtered (X-ray on, I0 window), binned by a
scan variable, and per bin the *sums* of every per-shot variable plus
``nEntries`` are kept for laser on and off separately — sums, because cubes of
different runs then add exactly.  From the sums:

* normalised signal ``R = Σsignal / ΣI0`` per bin and laser state;
* its error from photon statistics: ``signal/I0`` of a shot scatters about
  R with variance ``R²·κ²/I0`` — the noise model under which ``Σs/ΣI0`` is
  the best estimator — so ``σ_R = R·κ/√ΣI0`` with
  ``κ² = ΣI0·(r/R − 1)²/(n − 1)``.  Unlike the textbook ratio-estimator
  variance this stays honest when one strong SASE pulse dominates a bin of a
  few pumped shots (checked against the simulator's truth: χ²/n of the
  binned ΔI/I about it was 0.4–1.2 over five simulated campaigns);
* the relative change ``R_on / R_off − 1`` and its propagated error, using a
  moderated per-bin ``κ²`` (see :func:`_moderated_variance`): a bin of five
  pumped shots estimates its own scatter only to ±35 %, and plain pooling over
  bins would hide the extra scatter timing jitter causes near time zero;
* a fit of the pump response (:mod:`expctl.runlog.fit`) with model-based
  weights: the typical (median-bin) noise of the pumped shots plus the scatter
  timing jitter causes near time zero for the bin's effective number of pumped
  shots — the per-bin sample scatter of a few shots is too noisy to weight by,
  and adding the jitter term to it would count that scatter twice.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from expctl.errors import DataError, UserError
from expctl.runlog.calibration import I0Calibration
from expctl.runlog.fit import DEFAULT_JITTER_PS, PumpFitResult, fit_pump_response
from expctl.runlog.reader import ColumnMissingError, read_run

__all__ = ["BinStats", "Cube", "ReduceOptions", "reduce_runs"]

#: Above this many distinct scan values, ``bins=None`` falls back to uniform bins.
MAX_UNIQUE_BINS = 200
DEFAULT_UNIFORM_BINS = 50
#: Prior degrees of freedom of the moderated per-bin variance.
PRIOR_DOF = 4.0


@dataclass(frozen=True, slots=True)
class ReduceOptions:
    """What to reduce and how.

    Args:
        bin_var: per-shot dataset to bin by (``scan/delay``).
        bins: None = one bin per distinct value (step scans); an int = that
            many uniform bins; a sequence = bin edges.
        signal: the detector reduction to normalise (``mpccd/ROI_0_sum``).
        i0: the I0 monitor (``pd_i0``).
        i0_window: absolute (low, high) I0 limits, either may be None.
        i0_relative: (low, high) limits as fractions of the median I0 of the
            shots with the same laser state (reference and pumped runs use
            different attenuators, so one absolute window rarely suits both).
        require_xray: drop shots with ``lightStatus/xray`` == 0.
        fit: fit the pump response.
        jitter: timing jitter σ used by the fit (fixed unless ``fit_jitter``).
        fit_jitter: fit σ as well.
        i0_calibration: puts each run's I0 on one gain range's scale
            (:mod:`expctl.runlog.calibration`); None leaves I0 as read.
    """

    bin_var: str = "scan/delay"
    bins: int | Sequence[float] | None = None
    signal: str = "mpccd/ROI_0_sum"
    i0: str = "pd_i0"
    i0_window: tuple[float | None, float | None] = (None, None)
    i0_relative: tuple[float | None, float | None] = (None, None)
    require_xray: bool = True
    laser: str = "lightStatus/laser"
    xray: str = "lightStatus/xray"
    fit: bool = True
    jitter: float = DEFAULT_JITTER_PS
    fit_jitter: bool = False
    i0_calibration: I0Calibration | None = None


@dataclass(frozen=True, slots=True)
class BinStats:
    """Per-bin statistics of one laser state."""

    n: np.ndarray
    sums: dict[str, np.ndarray]
    norm: np.ndarray
    norm_err: np.ndarray
    signal_std: np.ndarray
    moderated_err: np.ndarray
    typical_err: np.ndarray


@dataclass(frozen=True, slots=True)
class Cube:
    """A reduction: bins, per-bin stats for laser on/off, relative change, fit."""

    options: ReduceOptions
    runs: tuple[int, ...]
    edges: np.ndarray
    centers: np.ndarray
    on: BinStats
    off: BinStats
    relative: np.ndarray
    relative_err: np.ndarray
    fit: PumpFitResult | None
    shots_total: int
    rejected: dict[str, int] = field(default_factory=dict)
    units: str = "ps"

    def as_dict(self) -> dict[str, Any]:
        """JSON-able summary (``--json``)."""
        def clean(a: np.ndarray) -> list[float | None]:
            return [None if not math.isfinite(v) else float(v) for v in np.asarray(a, float)]

        return {
            "runs": list(self.runs),
            "bin_var": self.options.bin_var,
            "signal": self.options.signal,
            "i0": self.options.i0,
            "units": self.units,
            "centers": clean(self.centers),
            "n_on": self.on.n.tolist(),
            "n_off": self.off.n.tolist(),
            "norm_on": clean(self.on.norm),
            "norm_off": clean(self.off.norm),
            "relative": clean(self.relative),
            "relative_err": clean(self.relative_err),
            "shots_total": self.shots_total,
            "rejected": dict(self.rejected),
            "fit": None if self.fit is None else self.fit.as_dict(),
            "i0_calibration": None if self.options.i0_calibration is None
            else self.options.i0_calibration.as_dict(),
        }


def _edges(values: np.ndarray, bins: int | Sequence[float] | None) -> np.ndarray:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        raise DataError("no shot has a finite value of the bin variable")
    if bins is None:
        unique = np.unique(np.round(finite, 9))
        if len(unique) <= MAX_UNIQUE_BINS:
            if len(unique) == 1:
                return np.array([unique[0] - 0.5, unique[0] + 0.5])
            mid = 0.5 * (unique[1:] + unique[:-1])
            return np.concatenate([[2 * unique[0] - mid[0]], mid, [2 * unique[-1] - mid[-1]]])
        bins = DEFAULT_UNIFORM_BINS
    if isinstance(bins, int):
        if bins < 1:
            raise UserError(f"--bins must be a positive count, got {bins}", allowed="1 ..")
        lo, hi = float(finite.min()), float(finite.max())
        if hi == lo:
            hi = lo + 1.0
        return np.linspace(lo, hi + 1e-9 * (hi - lo), bins + 1)
    edges = np.asarray(bins, dtype=np.float64)
    if edges.ndim != 1 or len(edges) < 2 or np.any(np.diff(edges) <= 0):
        raise UserError(f"--bins edges must increase strictly, got {list(edges)}",
                        allowed="at least two increasing numbers, e.g. -1,0,1,2")
    return edges


def _stats(idx: np.ndarray, nb: int, cols: dict[str, np.ndarray], s: np.ndarray,
           i0: np.ndarray) -> BinStats:
    n = np.bincount(idx, minlength=nb)
    sums = {k: np.bincount(idx, weights=v, minlength=nb) for k, v in cols.items()}
    with np.errstate(divide="ignore", invalid="ignore"):
        s2_i0 = s * s / i0
    # sums behind the error model, kept so cubes of different runs still add
    for key, values in (("signal_sq_over_i0", s2_i0), ("i0_sq", i0 * i0),
                        ("signal_sq", s * s)):
        sums[key] = np.bincount(idx, weights=values, minlength=nb)
    s_sum = np.bincount(idx, weights=s, minlength=nb)
    i_sum = np.bincount(idx, weights=i0, minlength=nb)
    with np.errstate(divide="ignore", invalid="ignore"):
        norm = s_sum / i_sum
        # κ² = Σ I0·(r/R − 1)² / (n − 1), r = signal/I0: scatter per unit I0
        nu = np.clip(n - 1, 0, None).astype(np.float64)
        kappa2 = np.clip(sums["signal_sq_over_i0"] / (norm * norm) - 2 * s_sum / norm + i_sum,
                         0.0, None) / nu
        norm_err = np.abs(norm) * np.sqrt(kappa2 / i_sum)
        norm_err[n < 2] = np.nan
        signal_std = np.sqrt(np.clip(sums["signal_sq"] - s_sum * s_sum / n, 0.0, None) / nu)
        signal_std[n < 2] = np.nan
        moderated_err = np.abs(norm) * np.sqrt(_moderated_variance(kappa2, nu) / i_sum)
        typical_err = np.abs(norm) * np.sqrt(_typical_variance(kappa2, nu) / i_sum)
    return BinStats(n=n, sums=sums, norm=norm, norm_err=norm_err, signal_std=signal_std,
                    moderated_err=moderated_err, typical_err=typical_err)


def _typical_variance(s2: np.ndarray, nu: np.ndarray) -> float:
    """The median bin variance, corrected for the median of χ²_ν/ν (NaN without data).

    A median, so the few bins near time zero whose scatter timing jitter
    inflates do not set the noise level of all the others.
    """
    have = nu >= 1
    if not have.any():
        return math.nan
    nu_med = float(np.median(nu[have]))
    median_factor = (1.0 - 2.0 / (9.0 * nu_med)) ** 3
    return float(np.median(s2[have])) / median_factor


def _moderated_variance(s2: np.ndarray, nu: np.ndarray) -> np.ndarray:
    """Per-bin relative variance shrunk towards the typical bin's (empirical Bayes).

    ``(ν_b·s_b² + ν₀·s₀²) / (ν_b + ν₀)`` with ``s₀²`` the median bin variance
    (corrected for the median of χ²_ν/ν) and ``ν₀`` = :data:`PRIOR_DOF`: a
    bin of five pumped shots keeps most of its own scatter (jitter near time
    zero makes it genuinely larger) without its ±30 % sampling noise ruling
    the fit weights; bins with a single shot get the typical variance.
    """
    have = nu >= 1
    s0 = _typical_variance(s2, nu)
    out = np.full_like(s2, s0)
    out[have] = (nu[have] * s2[have] + PRIOR_DOF * s0) / (nu[have] + PRIOR_DOF)
    return out


def reduce_runs(paths: Sequence[Path], options: ReduceOptions = ReduceOptions()) -> Cube:
    """Reduce run files into a :class:`Cube` (see the module docstring for the statistics)."""
    if not paths:
        raise UserError("no runs to reduce", hint="give run numbers or --where")
    o = options
    required = (o.bin_var, o.signal, o.i0, o.laser)
    parts: list[dict[str, np.ndarray]] = []
    runs: list[int] = []
    empty = 0
    for path in paths:
        try:
            data = read_run(path, required=required, attrs=("run",))
        except ColumnMissingError as exc:  # the file is fine; the chosen run or column is not
            raise UserError(f"cannot reduce {exc.message}", allowed=exc.allowed,
                            hint="Choose runs taken in a delay loop (e.g. --where "
                                 "\"sequence == 'pumpprobe'\") or another --bin/--signal/--i0."
                            ) from None
        if not data.columns:
            empty += 1
            continue
        if o.i0_calibration is not None:
            data = replace(data, columns=o.i0_calibration.applied(path, data.columns))
        runs.append(int(data.attrs.get("run", -1)))
        parts.append({k: v for k, v in data.columns.items()
                      if v.dtype.kind in "iufb" and k != "tag"})
    if not parts:
        raise DataError(f"none of the {len(paths)} runs holds a shot")
    common = set.intersection(*(set(p) for p in parts))
    cols = {k: np.concatenate([p[k] for p in parts]).astype(np.float64) for k in sorted(common)}
    total = len(cols[o.bin_var])
    keep = np.isfinite(cols[o.bin_var]) & np.isfinite(cols[o.signal]) & np.isfinite(cols[o.i0])
    rejected = {"empty_runs": empty, "non_finite": int(total - keep.sum())}
    if o.require_xray and o.xray in cols:
        xray_off = keep & (cols[o.xray] == 0)
        rejected["xray_off"] = int(xray_off.sum())
        keep &= ~xray_off
    laser_on = cols[o.laser] > 0
    i0 = cols[o.i0]
    window = keep & (i0 > 0)
    lo, hi = o.i0_window
    if lo is not None:
        window &= i0 >= lo
    if hi is not None:
        window &= i0 <= hi
    rlo, rhi = o.i0_relative
    for state in (laser_on, ~laser_on):
        sel = keep & state & (i0 > 0)
        if sel.any() and (rlo is not None or rhi is not None):
            med = float(np.median(i0[sel]))
            if rlo is not None:
                window &= ~state | (i0 >= rlo * med)
            if rhi is not None:
                window &= ~state | (i0 <= rhi * med)
    rejected["i0_window"] = int((keep & ~window).sum())
    keep = window
    if not keep.any():
        raise DataError(f"all {total} shots were filtered out", allowed=str(rejected),
                        hint="widen the I0 window or check lightStatus/xray")
    edges = _edges(cols[o.bin_var][keep], o.bins)
    nb = len(edges) - 1
    idx_all = np.searchsorted(edges, cols[o.bin_var], side="right") - 1
    idx_all[cols[o.bin_var] == edges[-1]] = nb - 1  # the last bin includes its upper edge
    inside = (idx_all >= 0) & (idx_all < nb)
    rejected["outside_bins"] = int((keep & ~inside).sum())
    keep &= inside
    x = cols[o.bin_var]
    with np.errstate(divide="ignore", invalid="ignore"):
        counts = np.bincount(idx_all[keep], minlength=nb)
        centers = np.bincount(idx_all[keep], weights=x[keep], minlength=nb) / counts
    centers = np.where(counts > 0, centers, 0.5 * (edges[1:] + edges[:-1]))
    stats = {}
    for name, state in (("on", laser_on), ("off", ~laser_on)):
        sel = keep & state
        stats[name] = _stats(idx_all[sel], nb, {k: v[sel] for k, v in cols.items()},
                             cols[o.signal][sel], i0[sel])
    on, off = stats["on"], stats["off"]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = on.norm / off.norm
        relative = ratio - 1.0
        relative_err = np.abs(ratio) * np.sqrt((on.moderated_err / on.norm) ** 2
                                               + (off.moderated_err / off.norm) ** 2)
    fit = None
    if o.fit:
        # model-based weights: typical noise of the pumped shots (no jitter in it) …
        with np.errstate(divide="ignore", invalid="ignore"):
            n_eff_on = on.sums[o.i0] ** 2 / on.sums["i0_sq"]
            noise_err = np.abs(ratio) * np.sqrt((on.typical_err / on.norm) ** 2
                                                + (off.moderated_err / off.norm) ** 2)
        # … plus the jitter scatter the fitted model predicts for n_eff shots
        fit = fit_pump_response(centers, relative, noise_err, sigma=o.jitter,
                                fit_sigma=o.fit_jitter, shots=n_eff_on)
    return Cube(options=o, runs=tuple(runs), edges=edges, centers=centers, on=on, off=off,
                relative=relative, relative_err=relative_err, fit=fit, shots_total=total,
                rejected=rejected)
