"""Peak statistics of a scan: SPEC's numbers, the fit's verdict, partial and broken data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from expctl.analysis import ScanStatsResult, scan_stats


def test_cen_com_fwhm_max_and_the_fit_of_a_clean_peak(rng):
    x = np.linspace(-1.0, 1.0, 41)
    i0 = rng.gamma(30.0, 1.0, x.size)
    y = i0 * (2.0 + 50.0 * np.exp(-0.5 * ((x - 0.123) / 0.1) ** 2))
    stats = scan_stats(x, y, i0=i0, axis="theta", signal="roi0/i0")
    assert stats.ok and not stats.flags
    assert stats.cen == pytest.approx(0.123, abs=0.01)
    assert stats.com == pytest.approx(0.123, abs=0.01)
    assert stats.fwhm == pytest.approx(0.2355, rel=0.1)            # 2.355 σ
    assert stats.max_y == pytest.approx(52.0, rel=0.05) and abs(stats.max_x - 0.123) < 0.05
    assert stats.fit is not None and stats.fit.center == pytest.approx(0.123, abs=1e-3)
    assert stats.peak == stats.fit.center
    assert ScanStatsResult.from_dict(stats.as_dict()).cen == stats.cen


def test_a_peak_at_the_edge_and_no_peak_are_flagged_not_raised(rng):
    x = np.linspace(0.0, 1.0, 21)
    edge = scan_stats(x, 10.0 + 100.0 * np.exp(-((x - 1.0) / 0.1) ** 2))
    assert "edge" in edge.flags and not edge.ok
    flat = scan_stats(x, 10.0 + rng.normal(0.0, 1.0, x.size))
    assert "no_peak" in flat.flags and not flat.ok
    assert flat.peak == flat.cen                                   # no usable fit: cen


def test_partial_and_broken_points_are_left_out(rng):
    x = [0.0, 0.5, 1.0, float("nan"), 2.0]
    stats = scan_stats(x, [1.0, 5.0, 9.0, 4.0, 1.0], i0=[1.0, 1.0, 1.0, 1.0, 0.0])
    assert "points_dropped" in stats.flags and stats.n_points == 3
    two = scan_stats([0.0, 1.0], [1.0, 2.0])
    assert "too_few_points" in two.flags and math.isnan(two.cen) and two.max_x == 1.0
    none = scan_stats([], [])
    assert none.n_points == 0 and "too_few_points" in none.flags
