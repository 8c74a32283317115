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
* a fit of the pump response (:mod:`expctl.runlog.fit`) to the single pumped
  shots, each against its bin's reference level, with a fitted noise level; the
  timing jitter is the ``--jitter`` given, else the robust rms of a timing tool
  column (:data:`TIMING_TOOL_COLUMNS`) over the pumped shots, else fitted under
  a documented prior — the fit records which.  Parameters the data do not
  constrain are named with what to measure (``fit.undetermined``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from expctl.errors import DataError, UserError
from expctl.runlog.calibration import I0Calibration
from expctl.runlog.fit import PumpFitResult, fit_pump_response
from expctl.runlog.likelihood import PumpedShots
from expctl.runlog.reduce_inputs import (
    AUTO_BACKGROUND,
    TIMING_TOOL_COLUMNS,
    choose_jitter,
    load_inputs,
    resolve_background,
)

__all__ = ["TIMING_TOOL_COLUMNS", "BinStats", "Cube", "ReduceOptions", "reduce_runs"]

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
        background: a per-shot background of the signal's size subtracted from it
            (``mpccd/ROI_1_sum``: a box off the Bragg spot, holding the diffuse
            scatter and the detector's pedestal drift); ``"auto"`` (default) the one the
            runs' profile declares for the signal (``backgrounds:`` of the detector), if
            any; None subtracts nothing.  The cube's options name the column used.
        i0: the I0 monitor (``pd_i0``).
        i0_window: absolute (low, high) I0 limits, either may be None.
        i0_relative: (low, high) limits as fractions of the median I0 of the
            shots with the same laser state (reference and pumped runs use
            different attenuators, so one absolute window rarely suits both).
        require_xray: drop shots with ``lightStatus/xray`` == 0.
        fit: fit the pump response.
        jitter: a known timing jitter σ in ps (fixed in the fit); None: from the
            timing tool, else fitted under ``jitter_prior``.
        fit_jitter: σ is a result (the fit is incomplete if the data cannot resolve
            it); without it a fitted σ is a nuisance marginalised into t0's error.
        jitter_prior: (median, one-sigma factor) of the log-normal prior of a fitted σ,
            in the bin variable's unit; None: the jitter the run files declare
            (``UserDataCfg/timing``) ×/÷ 10, else :data:`~expctl.runlog.fit.JITTER_PRIOR`.
        timing_tool: the timing-tool column to take σ from; "auto" tries
            :data:`TIMING_TOOL_COLUMNS`; None ignores timing tools.
        baseline: fit a constant ΔI/I offset (on/off calibration differences).
        i0_calibration: puts each run's I0 on one gain range's scale
            (:mod:`expctl.runlog.calibration`); None leaves I0 as read.
    """

    bin_var: str = "scan/delay"
    bins: int | Sequence[float] | None = None
    signal: str = "mpccd/ROI_0_sum"
    background: str | None = AUTO_BACKGROUND
    i0: str = "pd_i0"
    i0_window: tuple[float | None, float | None] = (None, None)
    i0_relative: tuple[float | None, float | None] = (None, None)
    require_xray: bool = True
    laser: str = "lightStatus/laser"
    xray: str = "lightStatus/xray"
    fit: bool = True
    jitter: float | None = None
    fit_jitter: bool = False
    jitter_prior: tuple[float, float] | None = None
    timing_tool: str | None = "auto"
    baseline: bool = False
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

    def model_errors(self) -> np.ndarray | None:
        """Per-bin error of ΔI/I under the fit's noise model (None without a fit).

        Unlike ``relative_err`` (each bin's own scatter) it exists for bins of a
        single pumped shot too.
        """
        if self.fit is None or len(self.fit.bin_errors) != len(self.centers):
            return None
        return self.fit.bin_errors

    def as_dict(self) -> dict[str, Any]:
        """JSON-able summary (``--json``)."""
        def clean(a: np.ndarray) -> list[float | None]:
            return [None if not math.isfinite(v) else float(v) for v in np.asarray(a, float)]

        return {
            "runs": list(self.runs),
            "bin_var": self.options.bin_var,
            "signal": self.options.signal,
            "background": self.options.background,
            "i0": self.options.i0,
            "units": self.units,
            "centers": clean(self.centers),
            "n_on": self.on.n.tolist(),
            "n_off": self.off.n.tolist(),
            "norm_on": clean(self.on.norm),
            "norm_off": clean(self.off.norm),
            "relative": clean(self.relative),
            "relative_err": clean(self.relative_err),
            "relative_err_model": (None if (model := self.model_errors()) is None
                                   else clean(model)),
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
    o = resolve_background(paths, options)
    inputs = load_inputs(paths, o)
    cols, runs, empty = inputs.columns, inputs.runs, inputs.empty
    total = len(cols[o.bin_var])
    keep, rejected = _select(cols, o)
    rejected = {"empty_runs": empty, **rejected}
    if not keep.any():
        raise DataError(f"all {total} shots were filtered out", allowed=str(rejected),
                        hint="widen the I0 window or check lightStatus/xray")
    laser_on = cols[o.laser] > 0
    _require_both_states(keep, laser_on, total, rejected, o)
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
                             cols[o.signal][sel], cols[o.i0][sel])
    on, off = stats["on"], stats["off"]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = on.norm / off.norm
        relative = ratio - 1.0
        relative_err = np.abs(ratio) * np.sqrt((on.moderated_err / on.norm) ** 2
                                               + (off.moderated_err / off.norm) ** 2)
    fit = None
    if o.fit:
        shots, no_reference = _pumped_shots(cols, keep & laser_on, idx_all, off, o)
        rejected["no_reference_in_bin"] = no_reference
        fit = fit_pump_response(shots, jitter=choose_jitter(inputs, keep & laser_on, o),
                                baseline=o.baseline, units=inputs.unit)
    return Cube(options=o, runs=tuple(runs), edges=edges, centers=centers, on=on, off=off,
                relative=relative, relative_err=relative_err, fit=fit, shots_total=total,
                rejected=rejected, units=inputs.unit)


def _select(cols: dict[str, np.ndarray], o: ReduceOptions) -> tuple[np.ndarray, dict[str, int]]:
    """Shots kept by the finite-value, X-ray and I0-window filters, and how many each dropped."""
    total = len(cols[o.bin_var])
    keep = np.isfinite(cols[o.bin_var]) & np.isfinite(cols[o.signal]) & np.isfinite(cols[o.i0])
    rejected = {"non_finite": int(total - keep.sum())}
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
    return window, rejected


def _require_both_states(keep: np.ndarray, laser_on: np.ndarray, total: int,
                         rejected: dict[str, int], o: ReduceOptions) -> None:
    """A relative change needs pumped and reference shots: without either, a user error."""
    for state, what, label in ((laser_on, "pumped", "on"), (~laser_on, "reference", "off")):
        if not (keep & state).any():
            dropped = int((state & ~keep).sum())
            why = (f"; the filters dropped all {dropped} of them ({_nonzero(rejected)})"
                   if dropped else "")
            raise UserError(
                f"no {what} shots selected: none of the {total} shots has {o.laser} {label}"
                f"{why}", hint="A pump-probe reduction needs both; select runs labelled "
                               "'pumped' and 'reference' (e.g. --where \"sequence == "
                               "'pumpprobe'\") or widen the I0 window.")


def _nonzero(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items() if v) or "none"


def _pumped_shots(cols: dict[str, np.ndarray], sel: np.ndarray, idx: np.ndarray,
                  off: BinStats, o: ReduceOptions) -> tuple[PumpedShots, int]:
    """Each selected pumped shot against its bin's reference level (likelihood input).

    Shots in a bin without a reference level cannot be compared and are left out
    (their number is returned).
    """
    b = idx[sel]
    with np.errstate(divide="ignore", invalid="ignore"):
        level = off.norm[b]
        usable = np.isfinite(level) & (level > 0)
        s, i0 = cols[o.signal][sel][usable], cols[o.i0][sel][usable]
        b, level = b[usable], level[usable]
        reference_var = (off.moderated_err / off.norm) ** 2
    shots = PumpedShots(delay=cols[o.bin_var][sel][usable], relative=s / i0 / level - 1.0,
                        weight=i0 / float(np.mean(i0)) if len(i0) else i0, bin=b,
                        reference_var=reference_var)
    return shots, int((~usable).sum())
