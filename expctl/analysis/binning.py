"""Binning for reduction: per-bin sums, counts, spread, laser on/off split.

Reduction into a "cube" keeps *sums* per bin (Σ of each variable, Σ of its
square, optional Σ of products, and the number of entries ``nEntries``), not
means, so cubes from several runs merge by addition and a normalised signal is
formed as Σsignal / ΣI0 per bin — the estimator LCLS smalldata tools use.  Shots
are selected by a boolean ``where`` (e.g. :func:`window_mask` on I0) and split
by the laser status for pump–probe.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from expctl.analysis.errors import AnalysisError

__all__ = [
    "BinnedResult",
    "OnOffResult",
    "bin_sums",
    "edges_from_centers",
    "split_on_off",
    "window_mask",
]


def window_mask(values: Any, window: tuple[float | None, float | None] | None, *,
                name: str = "window") -> np.ndarray:
    """Boolean mask of finite values inside ``(low, high)`` (inclusive; None = open).

    ``name`` is what error messages call the window (e.g. ``i0_window``).
    """
    v = np.asarray(values, dtype=np.float64)
    keep = np.isfinite(v)
    if window is None:
        return keep
    try:
        lo, hi = window
    except (TypeError, ValueError):
        raise AnalysisError(f"{name} must be (low, high), got {window!r}") from None
    if lo is not None and hi is not None and lo > hi:
        raise AnalysisError(f"{name} lower bound {lo} is above the upper bound {hi}")
    if lo is not None:
        keep &= v >= lo
    if hi is not None:
        keep &= v <= hi
    return keep


def edges_from_centers(centers: Any) -> np.ndarray:
    """Bin edges halfway between sorted unique centres (e.g. the delay set points).

    The outer edges sit half a neighbour spacing beyond the first and last
    centre; a single centre gets a bin of width 1 around it.
    """
    c = np.unique(np.asarray(centers, dtype=np.float64))
    if c.size == 0 or not np.isfinite(c).all():
        raise AnalysisError("bin centres must be finite and not empty")
    if c.size == 1:
        return np.array([c[0] - 0.5, c[0] + 0.5])
    mid = 0.5 * (c[1:] + c[:-1])
    return np.concatenate(([c[0] - (mid[0] - c[0])], mid, [c[-1] + (c[-1] - mid[-1])]))


@dataclass(frozen=True)
class BinnedResult:
    """Sums per bin of a binning variable.

    ``counts`` is ``nEntries``; ``sums[name]``, ``sumsq[name]`` and
    ``products[(a, b)]`` are per-bin Σ, Σ² and Σab.
    """

    edges: np.ndarray
    counts: np.ndarray
    sums: Mapping[str, np.ndarray]
    sumsq: Mapping[str, np.ndarray]
    products: Mapping[tuple[str, str], np.ndarray] = field(default_factory=dict)

    @property
    def centers(self) -> np.ndarray:
        """Bin centres."""
        return 0.5 * (self.edges[1:] + self.edges[:-1])

    def _sum(self, name: str) -> np.ndarray:
        try:
            return self.sums[name]
        except KeyError:
            raise AnalysisError(f"no variable {name!r} in the binned sums",
                                allowed=", ".join(sorted(self.sums))) from None

    def mean(self, name: str) -> np.ndarray:
        """Per-bin mean (NaN for empty bins)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return self._sum(name) / self.counts

    def std(self, name: str) -> np.ndarray:
        """Per-bin sample standard deviation (ddof=1; NaN with fewer than 2 entries)."""
        s = self._sum(name)
        n = self.counts.astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            var = (self.sumsq[name] - s * s / n) / (n - 1.0)
        var = np.where(n >= 2, np.clip(var, 0.0, None), np.nan)
        return np.sqrt(var)

    def sem(self, name: str) -> np.ndarray:
        """Standard error of the per-bin mean."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.std(name) / np.sqrt(self.counts)

    def ratio(self, numerator: str, denominator: str) -> np.ndarray:
        """Σnumerator / Σdenominator per bin (NaN where the denominator sums to 0)."""
        den = self._sum(denominator)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den != 0, self._sum(numerator) / den, np.nan)

    def ratio_err(self, numerator: str, denominator: str) -> np.ndarray:
        """Standard error of :meth:`ratio` from the shot-to-shot scatter (delta method).

        ``var(R) = Σ(y − R·x)² / ((n − 1) · n · x̄²)`` with ``Σ(y − R·x)²``
        expanded in Σy², Σxy, Σx² — so it needs ``products`` for the pair.
        """
        xy = self.products.get((numerator, denominator))
        if xy is None:
            xy = self.products.get((denominator, numerator))
        if xy is None:
            raise AnalysisError(f"ratio error needs the product sums of {numerator!r} and "
                                f"{denominator!r}; bin with products=[({numerator!r}, "
                                f"{denominator!r})]")
        r = self.ratio(numerator, denominator)
        n = self.counts.astype(np.float64)
        sx = self._sum(denominator)
        resid = self.sumsq[numerator] - 2.0 * r * xy + r * r * self.sumsq[denominator]
        with np.errstate(invalid="ignore", divide="ignore"):
            var = np.clip(resid, 0.0, None) * n / ((n - 1.0) * sx * sx)
        return np.where(n >= 2, np.sqrt(var), np.nan)

    def merge(self, other: BinnedResult) -> BinnedResult:
        """The sums of two binnings with the same edges and variables (e.g. two runs)."""
        if not np.array_equal(self.edges, other.edges) or set(self.sums) != set(other.sums) \
                or set(self.products) != set(other.products):
            raise AnalysisError("can only merge binnings with the same edges and variables")
        return BinnedResult(
            self.edges, self.counts + other.counts,
            {k: v + other.sums[k] for k, v in self.sums.items()},
            {k: v + other.sumsq[k] for k, v in self.sumsq.items()},
            {k: v + other.products[k] for k, v in self.products.items()},
        )

    def as_dict(self) -> dict[str, Any]:
        """Lists per field, for JSON output (products keyed ``"a*b"``)."""
        return {
            "edges": self.edges.tolist(),
            "centers": self.centers.tolist(),
            "nEntries": self.counts.tolist(),
            "sums": {k: v.tolist() for k, v in self.sums.items()},
            "sumsq": {k: v.tolist() for k, v in self.sumsq.items()},
            "products": {f"{a}*{b}": v.tolist() for (a, b), v in self.products.items()},
        }


def _bin_index(by: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin of each entry, −1 outside; the last edge belongs to the last bin (as np.histogram)."""
    idx = np.searchsorted(edges, by, side="right") - 1
    idx[by == edges[-1]] = edges.size - 2
    idx[(idx >= edges.size - 1) | ~np.isfinite(by)] = -1
    return idx


def bin_sums(by: Any, values: Mapping[str, Any], edges: Any, *, where: Any = None,
             products: Iterable[tuple[str, str]] = ()) -> BinnedResult:
    """Sum each variable into bins of ``by``.

    Args:
        by: the binning variable per shot (e.g. ``scan/delay``).
        values: per-shot arrays by name (e.g. ``{"pd_i0": …, "mpccd/ROI_0_sum": …}``).
        edges: increasing bin edges (see :func:`edges_from_centers`).
        where: boolean per shot: only these shots count (I0 window, x-ray on, …).
        products: pairs whose per-bin Σab to keep (for :meth:`BinnedResult.ratio_err`).

    Raises:
        AnalysisError: lengths that differ, bad edges, NaN in a selected value.
    """
    b = np.asarray(by, dtype=np.float64)
    e = np.asarray(edges, dtype=np.float64)
    if b.ndim != 1:
        raise AnalysisError(f"the binning variable must be 1-D, got shape {b.shape}")
    if e.ndim != 1 or e.size < 2 or not (np.diff(e) > 0).all():
        raise AnalysisError("bin edges must be at least 2 increasing values")
    idx = _bin_index(b, e)
    if where is not None:
        w = np.asarray(where, dtype=bool)
        if w.shape != b.shape:
            raise AnalysisError(f"where has shape {w.shape} but there are {b.size} shots")
        idx = np.where(w, idx, -1)
    sel = idx >= 0
    idx_sel = idx[sel]
    nb = e.size - 1
    arrays: dict[str, np.ndarray] = {}
    for name, v in values.items():
        a = np.asarray(v, dtype=np.float64)
        if a.shape != b.shape:
            raise AnalysisError(f"{name} has {a.size} entries but the binning variable has "
                                f"{b.size}")
        a = a[sel]
        if not np.isfinite(a).all():
            raise AnalysisError(f"{name} has NaN/inf in {np.count_nonzero(~np.isfinite(a))} "
                                "selected shots; exclude them with where=")
        arrays[name] = a
    pairs = [tuple(p) for p in products]
    for p in pairs:
        missing = [n for n in p if n not in arrays]
        if missing:
            raise AnalysisError(f"product {p[0]}*{p[1]} names unknown variables {missing}",
                                allowed=", ".join(sorted(arrays)))
    counts = np.bincount(idx_sel, minlength=nb).astype(np.int64)
    sums = {k: np.bincount(idx_sel, weights=a, minlength=nb) for k, a in arrays.items()}
    sumsq = {k: np.bincount(idx_sel, weights=a * a, minlength=nb) for k, a in arrays.items()}
    prods = {(p, q): np.bincount(idx_sel, weights=arrays[p] * arrays[q], minlength=nb)
             for p, q in pairs}
    return BinnedResult(e, counts, sums, sumsq, prods)


@dataclass(frozen=True)
class OnOffResult:
    """Laser-on and laser-off binnings with the same edges."""

    on: BinnedResult
    off: BinnedResult

    def relative_change(self, numerator: str, denominator: str) -> np.ndarray:
        """ΔI/I per bin: (Σy/Σx)_on / (Σy/Σx)_off − 1, the pump–probe signal."""
        off = self.off.ratio(numerator, denominator)
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.on.ratio(numerator, denominator) / off - 1.0

    def relative_change_err(self, numerator: str, denominator: str) -> np.ndarray:
        """Standard error of :meth:`relative_change` (needs products, see ``ratio_err``)."""
        on, off = self.on.ratio(numerator, denominator), self.off.ratio(numerator, denominator)
        e_on = self.on.ratio_err(numerator, denominator)
        e_off = self.off.ratio_err(numerator, denominator)
        with np.errstate(invalid="ignore", divide="ignore"):
            return (on / off) * np.sqrt((e_on / on) ** 2 + (e_off / off) ** 2)


def split_on_off(by: Any, values: Mapping[str, Any], edges: Any, laser: Any, *,
                 where: Any = None, products: Iterable[tuple[str, str]] = ()) -> OnOffResult:
    """:func:`bin_sums` separately for laser-on (``laser`` true) and laser-off shots."""
    on = np.asarray(laser).astype(bool)
    b = np.asarray(by)
    if on.shape != b.shape:
        raise AnalysisError(f"laser status has shape {on.shape} but there are {b.size} shots")
    base = np.ones(b.shape, dtype=bool) if where is None else np.asarray(where, dtype=bool)
    pairs = list(products)
    return OnOffResult(bin_sums(b, values, edges, where=base & on, products=pairs),
                       bin_sums(b, values, edges, where=base & ~on, products=pairs))

