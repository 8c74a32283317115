"""PNG plots for the logbook: the reduction cube and alignment scans.

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

__all__ = ["AlignmentFigure", "plot_alignment", "plot_cube"]

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


class AlignmentFigure:
    """One alignment-scan figure, redrawn for every scan (a background plotter keeps one).

    Built once with a fixed layout: drawing a scan only updates its artists, so the
    text layout of ``tight_layout`` and a new figure per PNG (two thirds of the
    time) are not paid per scan.  No pyplot: the figure belongs to nobody else.
    """

    def __init__(self) -> None:
        import matplotlib

        matplotlib.use("Agg", force=True)
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = self.figure = Figure(figsize=(6.4, 4.2), dpi=110)
        FigureCanvasAgg(fig)
        fig.subplots_adjust(left=0.13, right=0.97, bottom=0.12, top=0.92)
        ax = self.axes = fig.add_subplot()
        self.points = ax.plot([], [], "o", ms=4, color="black")[0]
        self.fit = ax.plot([], [], color="tab:orange")[0]
        self.center = ax.axvline(0.0, color="tab:orange", ls="--", lw=0.8)
        self.moved = ax.axvline(0.0, lw=1.2)
        self.note = ax.text(0.01, 0.98, "", transform=ax.transAxes, va="top", fontsize=7,
                            color="0.3")
        ax.grid(alpha=0.3)

    def draw(self, scan: AlignmentScan, path: Path) -> Path:
        """The scanned curve, the fitted peak, its centre and the move it caused, as a PNG."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        ax = self.axes
        self.points.set_data(scan.x, scan.normalized)
        self.points.set_label(scan.signal + (" / I0" if scan.i0 is not None else ""))
        r = scan.result
        center, fwhm = float(r.get("center", math.nan)), float(r.get("fwhm", math.nan))
        height = float(r.get("height", math.nan))
        background = float(r.get("background", math.nan))
        model = r.get("model")
        eta = _ETA.get(str(model), float(r.get("eta", math.nan)))
        fitted = bool(model) and all(math.isfinite(v)
                                     for v in (center, fwhm, height, background, eta))
        if fitted:
            xs = np.linspace(float(np.min(scan.x)), float(np.max(scan.x)), 400)
            self.fit.set_data(xs, background + height * pseudo_voigt(xs, center, fwhm, eta))
        self.fit.set_visible(fitted)
        self.fit.set_label(f"{model} fit" if fitted else "_fit")
        self.center.set_visible(math.isfinite(center))
        if math.isfinite(center):
            self.center.set_xdata([center, center])
        moved = scan.moved_to
        self.moved.set_visible(bool(moved))
        self.moved.set_label("_moved")
        if moved:
            target = float(moved["target"])
            self.moved.set_xdata([target, target])
            self.moved.set_color("tab:green" if moved.get("moved") else "tab:red")
            self.moved.set_label(("moved to " if moved.get("moved") else "stayed at ")
                                 + f"{target:.6f}")
        flags = ", ".join(r.get("flags", [])) or "none"
        ok = "ok" if r.get("ok", True) else "NOT USABLE"
        ax.set_title(f"{scan.name} #{scan.id}: {scan.axis} centre "
                     f"{_fmt(center, float(r.get('center_err', math.nan)))}, "
                     f"FWHM {_fmt(fwhm, float(r.get('fwhm_err', math.nan)))}", fontsize=9)
        self.note.set_text(f"{ok}; flags: {flags}\n{scan.step_path}")
        ax.set_xlabel(scan.axis)
        ax.set_ylabel("normalised signal" if scan.i0 is not None else "signal")
        ax.relim(visible_only=True)
        ax.autoscale_view()
        ax.legend(fontsize=8, loc="upper right")
        self.figure.savefig(path, pil_kwargs={"compress_level": 1})
        return path


def plot_alignment(scan: AlignmentScan, path: Path) -> Path:
    """The scanned curve, the fitted peak, its centre and the move it caused."""
    return AlignmentFigure().draw(scan, path)
