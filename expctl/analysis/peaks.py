"""Peak finding for rocking curves and alignment scans.

:func:`find_peak` is what a procedure calls after a scan: it normalises the
signal by I0 (dropping shots outside an I0 window), then estimates the peak by
one of four methods and returns a :class:`PeakResult` whose ``flags`` say
whether the answer can steer the next step (``ok``) or why not — the peak sits
at the scan edge (rescan wider), there is no peak above the noise (skip the
spot), too few points survived, or the fit failed.

Methods:
    ``"fit"``: weighted least-squares fit of a Gaussian, Lorentzian or
        pseudo-Voigt on a constant background (Levenberg–Marquardt with analytic
        Jacobian: numba kernels for long scans, their bit-identical numpy twin for
        short ones, see :data:`NUMBA_FIT_MIN_POINTS`).  Weights follow photon statistics of an
        I0-normalised signal, ``var(y_i) ∝ (model_i + floor) / I0_i``
        (``noise="poisson"``), detector-noise statistics ``var ∝ 1 / I0_i²``
        (``noise="constant"``), or — the default, ``noise="auto"`` — a mixture of
        photon, additive-detector, relative-I0 and pointing-jitter noise whose
        amounts are estimated from the curve's own residuals
        (:mod:`expctl.analysis.peakweights`): on single-shot rocking curves the
        flanks carry pointing jitter photon statistics know nothing about.  The
        overall noise scale is unknown, so the covariance is scaled by the
        reduced chi-square — the uncertainties are honest whatever the detector
        gain.
    ``"cen"``: midpoint of the two half-maximum crossings (SPEC's ``CEN``).
        Its errors propagate the tail noise through the crossing slopes and
        ignore interpolation bias: indicative only (they cover ~60 % at 1σ on
        the simulated rocking curves; ``com``'s ~85 %; the fit's 67–69 %).
    ``"com"``: centre of mass above background.
    ``"max"``: position of the largest point.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from expctl.analysis.binning import window_mask
from expctl.analysis.errors import AnalysisError, I0Error

__all__ = [
    "FLAGS_UNUSABLE",
    "METHODS",
    "MODELS",
    "PeakResult",
    "find_edge",
    "find_peak",
    "normalize_by_i0",
    "peak_cen",
    "peak_com",
    "peak_max",
]

METHODS = ("fit", "cen", "com", "max")
MODELS = ("gaussian", "lorentzian", "pseudo_voigt")
NOISE_MODELS = ("auto", "poisson", "constant")

#: flags after which ``center`` must not steer anything
FLAGS_UNUSABLE = frozenset({"edge", "no_peak", "too_few_points", "fit_failed"})

#: a peak must stand this many noise sigmas above the background
MIN_SIGNIFICANCE = 5.0
#: fewer scan points than this across the FWHM earn the ``undersampled`` flag
MIN_POINTS_PER_FWHM = 2.0
#: variance floor of the poisson weights, as a fraction of the peak height:
#: keeps zero-count tails from getting infinite weight
POISSON_FLOOR = 0.001
_GAUSS_FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))


@dataclass(frozen=True, slots=True)
class PeakResult:
    """A peak estimate with its uncertainty and quality flags.

    ``center``/``fwhm``/``height``/``background`` are in the units of x and of
    the (normalised) signal.  Errors are one standard deviation; NaN where a
    method cannot say.  ``flags`` may contain ``edge``, ``no_peak``,
    ``too_few_points``, ``fit_failed`` (all make ``ok`` false) and the
    informative ``i0_filtered`` (some points or shots were outside the I0
    window) and ``undersampled`` (fewer than :data:`MIN_POINTS_PER_FWHM` scan
    points per FWHM: the centre is less certain, see ``center_err``; rescan
    finer).  ``reduced_chi2`` is that of the weighted fit with weights
    normalised to a mean of 1 — a relative goodness of fit (the absolute noise
    scale of the signal is unknown), used to scale the errors.  When a fit
    fails, the centre, width and height are the half-maximum estimates so a
    caller that ignores ``ok`` still gets a sane number.
    """

    center: float
    fwhm: float
    height: float
    background: float
    center_err: float
    fwhm_err: float
    method: str
    model: str | None
    n_points: int
    flags: frozenset[str] = field(default_factory=frozenset)
    height_err: float = math.nan
    background_err: float = math.nan
    eta: float = math.nan
    reduced_chi2: float = math.nan

    @property
    def ok(self) -> bool:
        """True when no flag makes the result unusable."""
        return not (self.flags & FLAGS_UNUSABLE)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (flags sorted), including ``ok``."""
        return {
            "center": self.center,
            "fwhm": self.fwhm,
            "height": self.height,
            "background": self.background,
            "center_err": self.center_err,
            "fwhm_err": self.fwhm_err,
            "height_err": self.height_err,
            "background_err": self.background_err,
            "eta": self.eta,
            "reduced_chi2": self.reduced_chi2,
            "method": self.method,
            "model": self.model,
            "n_points": self.n_points,
            "flags": sorted(self.flags),
            "ok": self.ok,
        }


# ----------------------------------------------------------------------------- input


def _as_float_array(name: str, values: Any) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise AnalysisError(f"{name} is not numeric: {exc}") from None
    if arr.ndim == 0 or arr.size == 0:
        raise AnalysisError(f"{name} is empty: a peak needs a scan of at least 3 points")
    return arr


def _check_i0(i0: np.ndarray, *, positive: bool = True) -> None:
    """Raise for NaN, then (if ``positive``) for non-positive or infinite I0."""
    if np.isnan(i0).any():
        raise I0Error(f"i0 contains {np.count_nonzero(np.isnan(i0))} NaN values")
    bad = np.count_nonzero(~((i0 > 0) & (i0 < np.inf))) if positive else 0
    if bad:
        raise I0Error(f"i0 has {bad} non-positive or infinite values",
                      "exclude them with i0_window=(low, high)")


def normalize_by_i0(
    y: Any,
    i0: Any = None,
    i0_window: tuple[float | None, float | None] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """Signal per point normalised by I0, with shots outside the I0 window dropped.

    ``y`` is one value per point (shape ``(n,)``) or per shot (``(n, shots)``);
    ``i0`` has the same shape.  Per point the normalised signal is the ratio of
    sums ``Σy / ΣI0`` over the accepted shots (the estimator reduction uses),
    not the mean of ratios, which a weak shot would dominate.

    Returns:
        ``(signal, weight_i0, keep, filtered)``: the per-point signal, the
        summed accepted I0 per point (or the shot count without I0) that sets
        its statistical weight, a boolean mask of points that kept at least one
        shot, and whether anything was dropped.

    Raises:
        AnalysisError: NaN in I0 or the signal, non-positive I0 that the window
            does not exclude, shapes that differ, or an inverted window.
    """
    ya = _as_float_array("signal", y)
    if ya.ndim > 2:
        raise AnalysisError(f"signal must be 1-D (points) or 2-D (points x shots), got {ya.shape}")
    if not np.isfinite(ya).all():
        raise AnalysisError(f"signal contains {np.count_nonzero(~np.isfinite(ya))} NaN/inf values")
    n = ya.shape[0]
    if i0 is None:
        if i0_window is not None:
            raise AnalysisError("i0_window given without i0")
        if ya.ndim == 1:
            return ya, np.ones(n), np.ones(n, dtype=bool), False
        return ya.mean(axis=1), np.full(n, float(ya.shape[1])), np.ones(n, dtype=bool), False
    ia = _as_float_array("i0", i0)
    if ia.shape != ya.shape:
        raise AnalysisError(f"i0 shape {ia.shape} does not match signal shape {ya.shape}")
    accept = None
    if i0_window is not None:
        _check_i0(ia, positive=False)  # before the window, which would silently drop NaN
        accept = window_mask(ia, i0_window, name="i0_window")
    used = ia if accept is None else ia[accept]
    if used.size and not (used.min() > 0 and used.max() < np.inf):  # NaN fails here too
        _check_i0(used)
    if accept is None:
        if ya.ndim == 1:
            return ya / ia, ia, np.ones(n, dtype=bool), False
        sum_i0 = ia.sum(axis=1)
        return ya.sum(axis=1) / sum_i0, sum_i0, np.ones(n, dtype=bool), False
    filtered = not accept.all()
    ia = np.where(accept, ia, 0.0)
    ya = np.where(accept, ya, 0.0)
    if ya.ndim == 2:
        ia = ia.sum(axis=1)
        ya = ya.sum(axis=1)
    keep = ia > 0
    sig = np.divide(ya, ia, out=np.zeros_like(ya), where=keep)
    return sig, ia, keep, filtered


# ----------------------------------------------------------------------------- simple estimators


def _median(values: list[float]) -> float:
    s = sorted(values)
    h = len(s) // 2
    return s[h] if len(s) % 2 else 0.5 * (s[h - 1] + s[h])


def _noise_sigma(xs: list[float], ys: list[float], lo: float, hi: float) -> float:
    """White-noise sigma from second differences, which a smooth peak barely bends.

    The second difference of white noise has variance 6σ².  Two estimates,
    the larger wins: the median absolute value over the whole scan (×1.4826,
    blind to the few points the peak bends) and the rms away from the peak
    (outside ``lo..hi``), which the median misses for sparse photon counts
    (mostly zeros, a few ones).  Plain Python: on a 41-point scan it is
    several times faster than numpy.
    """
    if len(ys) < 5:
        return float(np.std(ys))
    d2 = [a - 2.0 * b + c for a, b, c in zip(ys, ys[1:], ys[2:], strict=False)]
    sigma = 1.4826 * _median([abs(d) for d in d2]) / math.sqrt(6.0)
    tail = [d for d, xb in zip(d2, xs[1:], strict=False) if not lo <= xb <= hi]
    if len(tail) >= 4:
        sigma = max(sigma, math.sqrt(math.fsum(d * d for d in tail) / (6.0 * len(tail))))
    if sigma == 0.0:  # integer-valued, mostly-zero data: fall back to the overall rms
        sigma = math.sqrt(math.fsum(d * d for d in d2) / (6.0 * len(d2)))
    return sigma


class _Estimate(NamedTuple):
    """Model-free description of the highest peak in sorted data."""

    center: float
    fwhm: float
    center_err: float
    fwhm_err: float
    height: float
    background: float
    sigma: float
    imax: int
    edge: bool


def _estimate(x: np.ndarray, y: np.ndarray) -> _Estimate:
    """Half-maximum crossings around the maximum, on the edge background.

    The background is the median of the outer tenth of the scan on each side
    (what a scan starts and ends on).  Each crossing is interpolated linearly;
    its error is the noise over the local slope, and the half level's own noise
    adds half as much again.
    """
    xs = x.tolist()
    ys = y.tolist()
    n = len(ys)
    k = max(1, n // 10)
    ymax = max(ys)
    imax = ys.index(ymax)
    bg = min(_median(ys[:k] + ys[n - k:]), ymax)
    half = bg + 0.5 * (ymax - bg)
    left = right = math.nan
    dx_dy_left = dx_dy_right = math.nan
    i = imax
    while i > 0 and ys[i - 1] >= half:
        i -= 1
    if i > 0:
        dx_dy_left = (xs[i] - xs[i - 1]) / (ys[i] - ys[i - 1])
        left = xs[i - 1] + (half - ys[i - 1]) * dx_dy_left
    j = imax
    while j < n - 1 and ys[j + 1] >= half:
        j += 1
    if j < n - 1:
        dx_dy_right = (xs[j + 1] - xs[j]) / (ys[j] - ys[j + 1])
        right = xs[j] + (ys[j] - half) * dx_dy_right
    edge = math.isnan(left) or math.isnan(right) or imax in (0, n - 1)
    if math.isnan(left):
        left = xs[0]
    if math.isnan(right):
        right = xs[-1]
    width = right - left
    sigma = _noise_sigma(xs, ys, left - width, right + width)
    if all(v >= 0.0 and v == int(v) for v in ys):
        # raw photon counts: the noise is at least Poisson, and one count is no peak
        sigma = max(sigma, math.sqrt(max(bg, 1.0)))
    spread = math.sqrt(1.5) * sigma * math.hypot(dx_dy_left, dx_dy_right)
    return _Estimate(0.5 * (left + right), width, 0.5 * spread, spread, ymax - bg, bg,
                     sigma, imax, edge)


def _quality(est: _Estimate) -> set[str]:
    """Flags a model-free estimate earns: truncated peak, or none above the noise."""
    flags = {"edge"} if est.edge else set()
    if not est.height > MIN_SIGNIFICANCE * est.sigma:
        flags.add("no_peak")
    return flags


def _sampling(x: np.ndarray, fwhm: float) -> set[str]:
    """``undersampled`` when the mean scan step exceeds FWHM / MIN_POINTS_PER_FWHM."""
    step = float(x[-1] - x[0]) / (x.size - 1)
    return {"undersampled"} if fwhm < MIN_POINTS_PER_FWHM * step else set()


def _simple(method: str, x: np.ndarray, y: np.ndarray, n_points: int,
            extra: set[str]) -> PeakResult:
    """The model-free estimators on sorted, normalised data."""
    est = _estimate(x, y)
    flags = extra | _quality(est) | _sampling(x, est.fwhm)
    center, c_err = est.center, est.center_err
    if method == "com":
        above = np.clip(y - est.background, 0.0, None)
        total = float(above.sum())
        if total > 0:
            center = float(np.dot(x, above) / total)
            c_err = est.sigma * math.sqrt(float(np.sum((x - center) ** 2))) / total
    elif method == "max":
        center = float(x[est.imax])
        c_err = float(x[-1] - x[0]) / (x.size - 1) / math.sqrt(12.0)
    return PeakResult(center=center, fwhm=est.fwhm, height=est.height,
                      background=est.background, center_err=c_err, fwhm_err=est.fwhm_err,
                      method=method, model=None, n_points=n_points, flags=frozenset(flags),
                      height_err=est.sigma, background_err=est.sigma)


def _prepare(x: Any, y: Any, i0: Any, i0_window: tuple[float | None, float | None] | None
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, set[str]]:
    """Validate, normalise by I0, drop emptied points and sort by x."""
    xa = _as_float_array("x", x)
    if xa.ndim != 1:
        raise AnalysisError(f"x must be 1-D, got shape {xa.shape}")
    if not np.isfinite(xa).all():
        raise AnalysisError("x contains NaN/inf values")
    sig, weight, keep, filtered = normalize_by_i0(y, i0, i0_window)
    if sig.shape[0] != xa.size:
        raise AnalysisError(f"x has {xa.size} points but the signal has {sig.shape[0]}")
    if filtered:
        xa, sig, weight = xa[keep], sig[keep], weight[keep]
    if xa.size > 1 and not (xa[1:] >= xa[:-1]).all():
        order = np.argsort(xa, kind="stable")
        xa, sig, weight = xa[order], sig[order], weight[order]
    return xa, sig, weight, {"i0_filtered"} if filtered else set()


def peak_cen(x: Any, y: Any, **kwargs: Any) -> PeakResult:
    """Half-maximum midpoint; ``find_peak(..., method="cen")``."""
    return find_peak(x, y, method="cen", **kwargs)


def peak_com(x: Any, y: Any, **kwargs: Any) -> PeakResult:
    """Centre of mass above the edge background; ``find_peak(..., method="com")``."""
    return find_peak(x, y, method="com", **kwargs)


def peak_max(x: Any, y: Any, **kwargs: Any) -> PeakResult:
    """Position of the largest point; ``find_peak(..., method="max")``."""
    return find_peak(x, y, method="max", **kwargs)


# ----------------------------------------------------------------------------- fit

_ETA_FIXED = {"gaussian": 0.0, "lorentzian": 1.0}
_MAX_ITER = 100
_REWEIGHTS = 2
#: scans longer than this are fitted by the numba kernels; shorter ones by their numpy
#: twin, which gives the same bits without numba's ~0.7 s load (a 41-point rocking curve
#: fits in a few ms either way)
NUMBA_FIT_MIN_POINTS = 500


def _fit_kernels(n_points: int) -> Any:
    """The fitting module for a scan of ``n_points`` (both give identical results)."""
    if n_points > NUMBA_FIT_MIN_POINTS:
        from expctl.analysis import _peakfit  # numba: only for long scans

        return _peakfit
    from expctl.analysis import _peakfit_py

    return _peakfit_py


def _fit(x: np.ndarray, y: np.ndarray, weight_i0: np.ndarray, model: str, noise: str,
         n_points: int, extra: set[str]) -> PeakResult:
    from expctl.analysis.peakweights import COMPONENTS, refit_with_estimated_noise

    kernels = _fit_kernels(x.size)
    first = _estimate(x, y)
    fwhm0 = first.fwhm if first.fwhm > 0 else 0.25 * float(x[-1] - x[0])
    eta0 = _ETA_FIXED.get(model, 0.5)
    p0 = np.array([first.center, fwhm0, first.height, first.background, eta0])
    free = np.array([True, True, True, True, model == "pseudo_voigt"])
    poisson = noise in ("poisson", "auto")  # auto starts from photon statistics
    wt = weight_i0 if poisson else weight_i0 * weight_i0
    reweights = _REWEIGHTS if poisson else 0
    p, err, red, status = kernels.fit_reweighted(x, y, wt, p0, free, _MAX_ITER, reweights,
                                                 POISSON_FLOOR)
    if noise == "auto" and status == kernels.CONVERGED and x.size > 2 * len(COMPONENTS) + 5:
        p, err, red, status = refit_with_estimated_noise(x, y, weight_i0, p, free, kernels,
                                                         POISSON_FLOOR, _MAX_ITER)
    center, fwhm, height, bg, eta = p.tolist()
    center_err, fwhm_err, height_err, bg_err, _ = err.tolist()
    if not (status == kernels.CONVERGED and fwhm > 0 and height > 0
            and math.isfinite(center + center_err + fwhm_err + height_err + bg_err)):
        return PeakResult(first.center, first.fwhm, first.height, first.background,
                          first.center_err, first.fwhm_err, "fit", model, n_points,
                          frozenset(extra | _quality(first) | {"fit_failed"}))
    flags = set(extra)
    significant = first.height > MIN_SIGNIFICANCE * first.sigma
    if not (significant and height > MIN_SIGNIFICANCE * height_err):
        flags.add("no_peak")
    if center - 0.5 * fwhm < x[0] or center + 0.5 * fwhm > x[-1]:
        flags.add("edge")
    flags |= _sampling(x, fwhm)
    return PeakResult(center=center, fwhm=fwhm, height=height, background=bg,
                      center_err=center_err, fwhm_err=fwhm_err, method="fit",
                      model=model, n_points=n_points, flags=frozenset(flags),
                      height_err=height_err, background_err=bg_err, eta=eta, reduced_chi2=red)


def _min_points(method: str, model: str) -> int:
    if method != "fit":
        return 3
    return 7 if model == "pseudo_voigt" else 6


def find_peak(
    x: Sequence[float] | np.ndarray,
    y: Sequence[float] | np.ndarray,
    *,
    i0: Sequence[float] | np.ndarray | None = None,
    i0_window: tuple[float | None, float | None] | None = None,
    method: str = "fit",
    model: str = "pseudo_voigt",
    noise: str = "auto",
) -> PeakResult:
    """Find the peak of a scan, normalised by I0.

    Args:
        x: scan positions, one per point (any order; sorted here).
        y: signal per point, or per shot as ``(points, shots)``.
        i0: the I0 monitor, same shape as ``y``; the signal becomes ``Σy/ΣI0``.
        i0_window: ``(low, high)`` I0 limits (either may be None); shots
            outside are dropped, and points left without shots are dropped.
        method: ``"fit"``, ``"cen"``, ``"com"`` or ``"max"``.
        model: for ``"fit"``: ``"gaussian"``, ``"lorentzian"`` or ``"pseudo_voigt"``.
        noise: for ``"fit"``: ``"auto"`` (photon, detector, I0 and pointing noise in
            amounts estimated from the curve), ``"poisson"`` (photon-counting signal) or
            ``"constant"`` (detector-noise-limited signal); sets the weights.

    Returns:
        A :class:`PeakResult`; poor data gives flags, not exceptions.

    Raises:
        AnalysisError: empty input, NaN, mismatched shapes or an unknown option.
    """
    if method not in METHODS:
        raise AnalysisError(f"unknown peak method {method!r}", allowed=", ".join(METHODS))
    if model not in MODELS:
        raise AnalysisError(f"unknown peak model {model!r}", allowed=", ".join(MODELS))
    if noise not in NOISE_MODELS:
        raise AnalysisError(f"unknown noise model {noise!r}", allowed=", ".join(NOISE_MODELS))
    xs, ys, ws, extra = _prepare(x, y, i0, i0_window)
    n = int(xs.size)
    if n < _min_points(method, model):
        nan = math.nan
        return PeakResult(nan, nan, nan, nan, nan, nan, method,
                          model if method == "fit" else None, n,
                          frozenset(extra | {"too_few_points"}))
    if method == "fit":
        return _fit(xs, ys, ws, model, noise, n, extra)
    return _simple(method, xs, ys, n, extra)


def find_edge(
    x: Sequence[float] | np.ndarray,
    y: Sequence[float] | np.ndarray,
    *,
    i0: Sequence[float] | np.ndarray | None = None,
    i0_window: tuple[float | None, float | None] | None = None,
    method: str = "fit",
) -> PeakResult:
    """Locate a knife-edge (or slit-edge) step: the peak of the scan's derivative.

    A beam profile scanned by an edge gives an error-function step; its
    derivative is the beam profile itself, so the Gaussian fit of the
    derivative gives the edge position (``center``) and the beam size
    (``fwhm``).  Rising and falling edges both work (a falling one is
    flipped).  Errors come from the fit to the differentiated data, whose
    neighbouring points are anti-correlated, so they are approximate.

    Args:
        x, y, i0, i0_window: as for :func:`find_peak`.
        method: ``"fit"`` (Gaussian), ``"cen"``, ``"com"`` or ``"max"``.
    """
    xs, ys, _, extra = _prepare(x, y, i0, i0_window)
    if xs.size < 2:
        return find_peak(xs, ys, method=method)  # too few points: find_peak flags it
    keep = np.diff(xs) > 0  # repeated positions have no slope
    mid = 0.5 * (xs[1:] + xs[:-1])[keep]
    slope = (np.diff(ys)[keep]) / np.diff(xs)[keep]
    if abs(float(slope.min())) > abs(float(slope.max())):
        slope = -slope
    result = find_peak(mid, slope, method=method, model="gaussian", noise="constant")
    return dataclasses.replace(result, flags=result.flags | extra)
