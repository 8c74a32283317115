"""Binning sums for reduction: against explicit loops, merging, on/off pump-probe recovery."""

from __future__ import annotations

import numpy as np
import pytest

from expctl.analysis import (
    AnalysisError,
    bin_sums,
    edges_from_centers,
    split_on_off,
    window_mask,
)


def test_edges_from_centers():
    np.testing.assert_allclose(edges_from_centers([0.0, 1.0, 3.0, 1.0]),
                               [-0.5, 0.5, 2.0, 4.0])
    np.testing.assert_allclose(edges_from_centers([2.0]), [1.5, 2.5])
    with pytest.raises(AnalysisError, match="finite and not empty"):
        edges_from_centers([])


def test_bin_sums_match_explicit_loops(rng):
    by = rng.uniform(-1.0, 11.0, 500)
    a = rng.normal(10.0, 2.0, 500)
    b = rng.gamma(2.0, 5.0, 500)
    edges = np.linspace(0.0, 10.0, 6)
    where = rng.random(500) < 0.8
    res = bin_sums(by, {"a": a, "b": b}, edges, where=where, products=[("a", "b")])
    for k in range(5):
        lo, hi = edges[k], edges[k + 1]
        sel = where & (by >= lo) & ((by < hi) if k < 4 else (by <= hi))
        assert res.counts[k] == sel.sum()
        assert res.sums["a"][k] == pytest.approx(a[sel].sum())
        assert res.sumsq["b"][k] == pytest.approx((b[sel] ** 2).sum())
        assert res.products[("a", "b")][k] == pytest.approx((a[sel] * b[sel]).sum())
        assert res.mean("a")[k] == pytest.approx(a[sel].mean())
        assert res.std("a")[k] == pytest.approx(a[sel].std(ddof=1))
        assert res.sem("a")[k] == pytest.approx(a[sel].std(ddof=1) / np.sqrt(sel.sum()))
        assert res.ratio("a", "b")[k] == pytest.approx(a[sel].sum() / b[sel].sum())
        r = a[sel].sum() / b[sel].sum()
        n = sel.sum()
        expected = np.sqrt(((a[sel] - r * b[sel]) ** 2).sum() * n
                           / ((n - 1) * b[sel].sum() ** 2))
        assert res.ratio_err("a", "b")[k] == pytest.approx(expected)
    assert res.as_dict()["nEntries"] == res.counts.tolist()


def test_empty_bins_give_nan_not_warnings():
    res = bin_sums([0.5, 0.6], {"a": [1.0, 2.0]}, [0.0, 1.0, 2.0])
    assert res.counts.tolist() == [2, 0]
    assert np.isnan(res.mean("a")[1]) and np.isnan(res.std("a")[1])
    assert np.isnan(res.ratio("a", "a")[1])


def test_merge_equals_binning_the_concatenation(rng):
    by = rng.uniform(0, 4, 200)
    v = rng.normal(size=200)
    edges = [0, 1, 2, 3, 4]
    whole = bin_sums(by, {"v": v}, edges)
    merged = bin_sums(by[:120], {"v": v[:120]}, edges).merge(
        bin_sums(by[120:], {"v": v[120:]}, edges))
    np.testing.assert_array_equal(merged.counts, whole.counts)
    np.testing.assert_allclose(merged.sums["v"], whole.sums["v"])
    with pytest.raises(AnalysisError, match="same edges and variables"):
        whole.merge(bin_sums(by, {"v": v}, [0, 2, 4]))


def test_on_off_split_recovers_a_known_pump_effect(rng):
    """Shots at 5 delays, laser on every other shot; on shots lose 20 % at delays >= 0."""
    n = 20000
    delays = rng.choice([-2.0, -1.0, 0.0, 1.0, 2.0], n)
    laser = np.arange(n) % 2 == 0
    i0 = rng.gamma(1.5, 100.0 / 1.5, n)
    change = np.where(laser & (delays >= 0), -0.2, 0.0)
    signal = rng.poisson(i0 * 50.0 * (1.0 + change)).astype(float)
    keep = window_mask(i0, (10.0, None))
    res = split_on_off(delays, {"sig": signal, "i0": i0}, edges_from_centers(delays), laser,
                       where=keep, products=[("sig", "i0")])
    rel = res.relative_change("sig", "i0")
    err = res.relative_change_err("sig", "i0")
    truth = np.array([0.0, 0.0, -0.2, -0.2, -0.2])
    assert np.all(np.abs(rel - truth) < 4 * err)
    assert np.all(err < 0.01)
    assert res.on.counts.sum() + res.off.counts.sum() == keep.sum()


@pytest.mark.parametrize(("call", "message"), [
    (lambda: bin_sums([1.0, 2.0], {"a": [1.0]}, [0, 3]),
     "a has 1 entries but the binning variable has 2"),
    (lambda: bin_sums([1.0], {"a": [1.0]}, [3, 0]), "bin edges must be at least 2 increasing"),
    (lambda: bin_sums([1.0], {"a": [np.nan]}, [0, 3]),
     "a has NaN/inf in 1 selected shots; exclude them with where="),
    (lambda: bin_sums([1.0], {"a": [1.0]}, [0, 3]).mean("b"),
     "no variable 'b' in the binned sums (allowed: a)"),
    (lambda: bin_sums([1.0], {"a": [1.0]}, [0, 3]).ratio_err("a", "a"),
     "ratio error needs the product sums of 'a' and 'a'"),
    (lambda: window_mask([1.0], (3.0, 1.0)), "window lower bound 3.0 is above the upper bound"),
    (lambda: split_on_off([1.0, 2.0], {"a": [1.0, 2.0]}, [0, 3], [True]),
     "laser status has shape (1,) but there are 2 shots"),
])
def test_binning_errors(call, message):
    with pytest.raises(AnalysisError) as info:
        call()
    assert str(info.value).startswith(message)
