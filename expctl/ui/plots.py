"""PNG plots for the logbook: the reduction cube, alignment scans and scan records.

matplotlib (Agg, no display needed) is imported inside the functions so that
importing expctl never pays for it.  Figures carry everything a reader of the
logbook needs without the command line that made them: runs, bin variable,
filters, fit parameters with errors, flags and the move an alignment caused.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from expctl.analysis.lineshape import pseudo_voigt

if TYPE_CHECKING:
    from expctl.runlog.alignment import AlignmentScan
    from expctl.runlog.reduce import Cube
    from expctl.runlog.scans import ScanColumns

__all__ = ["plot_alignment", "plot_cube", "plot_scan", "scan_curve"]

_ETA = {"gaussian": 0.0, "lorentzian": 1.0}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _fmt(value: float, err: float, unit: str = "") -> str:
    if not math.isfinite(value):
        return "n/a"
    if not math.isfinite(err) or err <= 0:
        return f"{value:.4g} {unit}".strip()
    digits = max(0, 1 - int(math.floor(math.log10(err))))
    return f"{value:.{digits}f} ± {err:.{digits}f} {unit}".strip()


def plot_cube(cube: Cube, path: Path, *, title: str | None = None) -> Path:
    """Two panels: normalised signal on/off per bin, and ΔI/I with the pump-response fit."""
    plt = _pyplot()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    unit = cube.units
    axis = cube.options.bin_var.rsplit("/", 1)[-1]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7.5, 7.0), sharex=True,
                                      gridspec_kw={"height_ratios": [1, 1.4]})
    x = cube.centers
    for stats, label, color in ((cube.off, "laser off (reference)", "tab:blue"),
                                (cube.on, "laser on (pumped)", "tab:red")):
        have = stats.n > 0
        top.errorbar(x[have], stats.norm[have], yerr=stats.moderated_err[have], fmt="o",
                     ms=4, capsize=2, color=color, label=f"{label}, {int(stats.n.sum())} shots")
    top.set_ylabel(f"Σ {cube.options.signal} / Σ {cube.options.i0}")
    top.legend(fontsize=8, loc="best")
    top.grid(alpha=0.3)
    have = np.isfinite(cube.relative)
    model_err = cube.model_errors()
    yerr = cube.relative_err if model_err is None else model_err
    bottom.errorbar(x[have], 100 * cube.relative[have], yerr=100 * yerr[have],
                    fmt="o", ms=4, capsize=2, color="black", label="data")
    bottom.axhline(0.0, color="grey", lw=0.8)
    fit = cube.fit
    if fit is not None and math.isfinite(fit.t0):
        t = np.linspace(float(cube.edges[0]), float(cube.edges[-1]), 600)
        bottom.plot(t, 100 * fit.curve(t), color="tab:orange", lw=1.8,
                    label="EMG fit: A·H(t−t0)·e^(−(t−t0)/τ) ⊛ G(σ)"
                          + (" + b" if fit.baseline_fitted else ""))
        bottom.axvline(fit.t0, color="tab:orange", ls="--", lw=0.8)

        def shown(name: str, scale: float, u: str) -> str:
            if name in fit.undetermined:
                return "not constrained"
            return _fmt(scale * getattr(fit, name), scale * getattr(fit, f"{name}_err"), u)

        lines = [f"t0 = {shown('t0', 1.0, unit)}", f"A = {shown('amplitude', 100.0, '%')}",
                 f"τ = {shown('tau', 1.0, unit)}",
                 f"σ = {_fmt(fit.sigma, fit.sigma_err, unit)}" if fit.sigma_fitted
                 else f"σ = {fit.sigma:.3g} {unit} ({fit.sigma_source.split(':')[0]})"]
        if fit.baseline_fitted:
            lines.append(f"b = {shown('baseline', 100.0, '%')}")
        lines.append(f"χ²/ν = {fit.chi2:.1f}/{fit.dof}" + ("" if fit.complete
                                                           else "  (incomplete)"))
        bottom.text(0.98, 0.04, "\n".join(lines), transform=bottom.transAxes, ha="right",
                    va="bottom", fontsize=8, family="monospace",
                    bbox={"boxstyle": "round", "fc": "white", "ec": "0.7", "alpha": 0.9})
    bottom.set_xlabel(f"{axis} ({unit})")
    bottom.set_ylabel("ΔI/I (%)")
    bottom.legend(fontsize=8, loc="center right")
    bottom.grid(alpha=0.3)
    runs = cube.runs
    span = f"runs {min(runs)}–{max(runs)} ({len(runs)})" if runs else "no runs"
    rejected = ", ".join(f"{k} {v}" for k, v in cube.rejected.items() if v) or "none"
    fig.suptitle(title or f"Pump–probe delay scan: {span}", fontsize=11)
    fig.text(0.01, 0.005, f"{cube.shots_total} shots; rejected: {rejected}; "
             f"bins: {len(x)} by {cube.options.bin_var}", fontsize=7, color="0.35")
    fig.tight_layout(rect=(0, 0.02, 1, 0.97))
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_alignment(scan: AlignmentScan, path: Path) -> Path:
    """The scanned curve, the fitted peak, its centre and the move it caused, as a PNG.

    Drawn with :class:`~expctl.ui.rasterplot.RasterPlot` (Pillow, a few milliseconds),
    not matplotlib: one is drawn for every alignment scan of a campaign (ADR 16).
    """
    from expctl.ui.rasterplot import GREEN, ORANGE, RED, RasterPlot

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    x, y = np.asarray(scan.x, dtype=float), np.asarray(scan.normalized, dtype=float)
    r = scan.result
    center, fwhm = float(r.get("center", math.nan)), float(r.get("fwhm", math.nan))
    height = float(r.get("height", math.nan))
    background = float(r.get("background", math.nan))
    model = r.get("model")
    eta = _ETA.get(str(model), float(r.get("eta", math.nan)))
    fitted = bool(model) and all(math.isfinite(v)
                                 for v in (center, fwhm, height, background, eta))
    moved = scan.moved_to
    target = float(moved["target"]) if moved else math.nan
    xs = fit = np.zeros(0)
    if fitted and x.size:
        xs = np.linspace(float(np.min(x)), float(np.max(x)), 400)
        fit = background + height * pseudo_voigt(xs, center, fwhm, eta)
    xall = np.concatenate([x, [v for v in (center, target) if math.isfinite(v)]])
    yall = np.concatenate([y, fit])
    xall, yall = xall[np.isfinite(xall)], yall[np.isfinite(yall)]
    plot = RasterPlot((float(xall.min()), float(xall.max())) if xall.size else (0.0, 1.0),
                      (float(yall.min()), float(yall.max())) if yall.size else (0.0, 1.0))
    if xs.size:
        plot.curve(xs, fit, f"{model} fit")
    plot.vline(center, ORANGE, dashed=True)
    if moved:
        plot.vline(target, GREEN if moved.get("moved") else RED, width=2,
                   label=("moved to " if moved.get("moved") else "stayed at ")
                   + f"{target:.6f}")
    plot.points(x, y, scan.signal + (" / I0" if scan.i0 is not None else ""))
    flags = ", ".join(r.get("flags", [])) or "none"
    ok = "ok" if r.get("ok", True) else "NOT USABLE"
    plot.title(f"{scan.name} #{scan.id}: {scan.axis} centre "
               f"{_fmt(center, float(r.get('center_err', math.nan)))}, "
               f"FWHM {_fmt(fwhm, float(r.get('fwhm_err', math.nan)))}")
    plot.note([f"{ok}; flags: {flags}", scan.step_path])
    plot.labels(scan.axis, "normalised signal" if scan.i0 is not None else "signal")
    plot.legend()
    return plot.save(path)


def plot_scan(scan: ScanColumns, path: Path) -> Path:
    """A scan record: its signal (divided by I0) against the first axis, with cen, the fitted
    peak and the move it caused; a grid scan as a map."""
    plt = _pyplot()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    x, y, label = scan_curve(scan)
    units = scan.units
    axis = scan.axes[0] if scan.axes else "point"
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    if len(scan.shape) == 2 and len(scan.axes) >= 2:
        y2 = scan.columns.get(scan.axes[1], np.zeros(0))
        shown = ax.scatter(x, y2, c=y, s=30, cmap="viridis")
        fig.colorbar(shown, ax=ax, label=label)
        ax.set_ylabel(_axis_label(scan.axes[1], units))
    else:
        ax.plot(x, y, "o-", ms=4, lw=0.8, color="black", label=label)
        r = scan.result or {}
        fit = r.get("fit") or {}
        if fit.get("model") and len(x):
            values = [float(fit.get(k, math.nan)) for k in ("center", "fwhm", "height",
                                                              "background")]
            eta = _ETA.get(str(fit["model"]), float(fit.get("eta", math.nan)))
            if all(math.isfinite(v) for v in (*values, eta)):
                xs = np.linspace(float(np.min(x)), float(np.max(x)), 400)
                ax.plot(xs, values[3] + values[2] * pseudo_voigt(xs, values[0], values[1], eta),
                        color="tab:orange", label=f"{fit['model']} fit")
        cen = r.get("cen")
        if isinstance(cen, float) and math.isfinite(cen):
            ax.axvline(cen, color="tab:orange", ls="--", lw=0.8, label=f"cen {cen:.6g}")
        moved = scan.moved_to
        if moved:
            ax.axvline(float(moved["target"]), lw=1.2,
                       color="tab:green" if moved.get("moved") else "tab:red",
                       label=("moved to " if moved.get("moved") else "stayed at ")
                       + f"{float(moved['target']):.6g}")
        ax.set_ylabel(label)
        ax.legend(fontsize=8, loc="best")
    flags = ", ".join((scan.result or {}).get("flags", [])) or "none"
    ax.set_title(f"scan {scan.number}: {scan.command or scan.kind}", fontsize=9)
    ax.text(0.01, 0.98, f"{scan.outcome}; {len(x)} of {scan.planned} points; flags: {flags}",
            transform=ax.transAxes, va="top", fontsize=7, color="0.3")
    ax.set_xlabel(_axis_label(axis, units))
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def scan_curve(scan: ScanColumns) -> tuple[np.ndarray, np.ndarray, str]:
    """``(x, y, label)``: the first axis and the scan's signal (divided by its I0)."""
    x = scan.positions
    signal = scan.signal_column or next(
        (k for k in scan.columns if k not in scan.axes), "")
    y = scan.columns.get(signal, np.full(len(x), np.nan))
    label = signal
    if scan.i0_column and scan.i0_column in scan.columns:
        with np.errstate(divide="ignore", invalid="ignore"):
            y = y / scan.columns[scan.i0_column]
        label = f"{signal} / {scan.i0_column}"
    return x, y, label


def _axis_label(axis: str, units: Any) -> str:
    unit = units.get(axis, "") if units else ""
    return f"{axis} ({unit})" if unit else axis
