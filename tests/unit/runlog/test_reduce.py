"""Reduction to a delay cube and the pump-response fit."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from nexusformat.nexus import nxload

from expctl.errors import DataError, UserError
from expctl.runlog import (
    Catalog,
    ReduceOptions,
    emg_response,
    fit_pump_response,
    reduce_runs,
    write_cube,
)

from .conftest import TRUTH


def _paths(data_dir, where=lambda r: True):
    with Catalog(data_dir, readonly=True) as catalog:
        return [catalog.file_of(r.run) for r in catalog.rows() if where(r)]


def test_emg_equals_the_jitter_average_of_the_step_exponential(rng):
    t = np.linspace(-1.0, 3.0, 41)
    jitter = rng.normal(0.0, 0.1, (400_000, 1))
    u = t + jitter - 0.2
    monte_carlo = np.where(u >= 0, -0.3 * np.exp(-np.clip(u, 0, None) / 1.5), 0.0).mean(axis=0)
    np.testing.assert_allclose(emg_response(t, 0.2, -0.3, 1.5, 0.1), monte_carlo, atol=1.5e-3)
    # far tails neither overflow nor produce NaN
    far = emg_response(np.array([-1e4, 1e4]), 0.0, 1.0, 0.05, 2.0)
    np.testing.assert_array_equal(far, [0.0, 0.0])


def test_fit_errors_are_honest(rng):
    """Over repeated noisy data sets the pulls (fit − truth)/error have unit spread."""
    t = np.r_[np.linspace(-1.0, 1.0, 21), [1.5, 2.0, 3.0, 4.0, 6.0, 8.0]]
    clean = emg_response(t, 0.23, -0.3, 2.0, 0.1)
    pulls = []
    for _ in range(60):
        fit = fit_pump_response(t, clean + rng.normal(0.0, 0.02, t.shape), np.full(t.shape, 0.02))
        assert fit.converged
        pulls.append([(fit.t0 - 0.23) / fit.t0_err, (fit.tau - 2.0) / fit.tau_err,
                      (fit.amplitude + 0.3) / fit.amplitude_err])
    spread = np.std(pulls, axis=0)
    assert np.all((spread > 0.6) & (spread < 1.4)), spread
    assert np.all(np.abs(np.mean(pulls, axis=0)) < 0.5)


def test_fit_with_too_few_points_is_undetermined_not_wrong():
    fit = fit_pump_response(np.array([0.0, 1.0, 2.0]), np.array([0.0, -0.2, -0.1]),
                            np.array([0.01, 0.01, 0.01]))
    assert not fit.converged and np.isnan(fit.t0) and fit.dof == 0


def test_campaign_reduces_to_the_ground_truth(campaign):
    cube = reduce_runs(_paths(campaign))
    assert cube.shots_total == 17 * 4 * 202
    np.testing.assert_allclose(cube.centers, [-1.0, -0.5, -0.2, 0.0, 0.1, 0.2, 0.3, 0.4, 0.6,
                                              0.8, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0])
    assert cube.on.n.tolist() == [8] * 17 and cube.off.n.tolist() == [800] * 17
    fit = cube.fit
    assert fit is not None and fit.converged
    assert abs(fit.t0 - TRUTH.t0) < 0.1 and abs(fit.t0 - TRUTH.t0) < 3 * fit.t0_err
    assert abs(fit.tau - TRUTH.tau) < 0.15 * TRUTH.tau
    assert abs(fit.tau - TRUTH.tau) < 3 * fit.tau_err
    assert abs(fit.amplitude - TRUTH.amplitude) < 3 * fit.amplitude_err
    assert 0.3 < fit.reduced_chi2 < 3.0
    # the reference level is flat: Σs/ΣI0 per bin agrees within its errors
    pulls = (cube.off.norm - cube.off.norm.mean()) / cube.off.moderated_err
    assert np.abs(pulls).max() < 5.0 and np.std(pulls) < 2.0


def test_cube_sums_add_across_runs(campaign):
    paths = _paths(campaign)
    whole = reduce_runs(paths)
    half = ReduceOptions(fit=False)
    first, second = reduce_runs(paths[:64], half), reduce_runs(paths[64:], half)
    key = "mpccd/ROI_0_sum"
    np.testing.assert_allclose(
        np.r_[first.on.sums[key], second.on.sums[key]][np.r_[first.on.n, second.on.n] > 0],
        whole.on.sums[key][whole.on.n > 0])
    assert whole.on.sums[key].sum() == pytest.approx(first.on.sums[key].sum()
                                                     + second.on.sums[key].sum())


def test_filters_xray_off_and_i0_window(campaign, tmp_path):
    paths = _paths(campaign, lambda r: r["scan"]["delay"] == 2.0)
    base = reduce_runs(paths)
    assert base.rejected == {"empty_runs": 0, "non_finite": 0, "xray_off": 0, "i0_window": 0,
                             "outside_bins": 0}
    narrow = reduce_runs(paths, ReduceOptions(i0_relative=(0.5, 2.0)))
    assert 0 < narrow.rejected["i0_window"] < base.shots_total / 2
    assert narrow.on.n.sum() + narrow.off.n.sum() == base.shots_total - narrow.rejected[
        "i0_window"]
    hard = reduce_runs(paths, ReduceOptions(i0_window=(150.0, None), fit=False))
    assert hard.fit is None
    with h5py.File(paths[0], "r") as f:
        i0 = f["pd_i0"][:]
    assert hard.rejected["i0_window"] >= int(np.sum(i0 < 150.0))
    with pytest.raises(DataError, match="all 808 shots were filtered out"):
        reduce_runs(paths, ReduceOptions(i0_window=(1e9, None)))


def test_explicit_and_uniform_bins(campaign):
    paths = _paths(campaign)
    edges = reduce_runs(paths, ReduceOptions(bins=[-2.0, 0.0, 1.0, 10.0], fit=False))
    assert edges.on.n.tolist() == [3 * 8, 7 * 8, 7 * 8]  # bins are [lo, hi)
    np.testing.assert_allclose(edges.centers[0], np.mean([-1.0, -0.5, -0.2]))
    uniform = reduce_runs(paths, ReduceOptions(bins=3, fit=False))
    assert len(uniform.centers) == 3 and uniform.on.n.sum() == 17 * 8
    with pytest.raises(UserError, match="--bins edges must increase strictly"):
        reduce_runs(paths, ReduceOptions(bins=[1.0, 0.0]))
    with pytest.raises(UserError, match="cannot reduce run000001.h5 has no per-shot scan/nothing"):
        reduce_runs(paths[:1], ReduceOptions(bin_var="scan/nothing"))
    with pytest.raises(UserError, match="no runs to reduce"):
        reduce_runs([])


def test_cube_file_is_nexus_and_self_describing(campaign, tmp_path):
    cube = reduce_runs(_paths(campaign))
    path = write_cube(cube, tmp_path / "cube.h5")
    with h5py.File(path, "r") as f:
        assert json.loads(f.attrs["runs"]) == list(range(1, 137))
        assert f.attrs["bin_var"] == "scan/delay"
        np.testing.assert_array_equal(f["entry/data/delay"][:], cube.centers)
        np.testing.assert_array_equal(f["entry/data/relative"][:], cube.relative)
        np.testing.assert_array_equal(f["entry/laser_on/nEntries"][:], cube.on.n)
        np.testing.assert_array_equal(f["entry/laser_off/sums/pd_i0"][:],
                                      cube.off.sums["pd_i0"])
        assert f["entry/fit/t0"][()] == cube.fit.t0
        assert f["entry/fit/t0"].attrs["units"] == "ps"
        assert f["entry/fit/curve"].shape == (400,)
    root = nxload(str(path))
    assert root.entry.data.nxsignal.nxname == "relative"
    assert root.entry.data.nxaxes[0].nxname == "delay"
    assert root.entry.data.nxerrors is not None


def test_a_run_without_shots_is_skipped_and_counted(campaign, tmp_path):
    from expctl.devices.protocols import RunRecord
    from expctl.engine.events import RunContext, RunStarted, RunStopped
    from expctl.runlog import RunFileWriter, read_run, run_file_path

    writer = RunFileWriter(tmp_path)
    writer(RunStarted(RunRecord(500, 3, 202601, 10, None, 0.0, None, 2, 0), RunContext(), 0.0))
    writer(RunStopped(RunRecord(500, 3, 202601, 10, None, 0.0, 1.0, 0, 0), "aborted", 1.0))
    empty = run_file_path(tmp_path, 3, 500)
    assert read_run(empty).shots == 0
    assert nxload(str(empty)).entry.nxclass == "NXentry"
    cube = reduce_runs([*_paths(campaign)[:8], empty], ReduceOptions(fit=False))
    assert cube.rejected["empty_runs"] == 1 and 500 not in cube.runs
    with pytest.raises(DataError, match="none of the 1 runs holds a shot"):
        reduce_runs([empty])


def test_jitter_fit_on_bins_coarser_than_the_jitter_reports_sigma_undetermined():
    t = np.array([-1.0, 0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0])
    y = emg_response(t, 0.25, -0.3, 2.0, 0.0)  # a sharp step between two bins
    fit = fit_pump_response(t, y, np.full(t.shape, 0.01), fit_sigma=True)
    assert fit.sigma_fitted and np.isnan(fit.sigma_err) and np.isnan(fit.t0_err)
    assert 0.0 < fit.t0 < 0.5  # only bracketed by the bins
    assert np.isfinite(fit.tau_err) and abs(fit.tau - 2.0) < 3 * fit.tau_err + 1e-6


def test_jitter_variance_inflates_only_the_bins_near_time_zero():
    from expctl.runlog.fit import jitter_variance

    t = np.array([-1.0, 0.25, 3.0])
    var = jitter_variance(t, 0.25, -0.3, 2.0, 0.1)
    assert var[0] < 1e-12
    assert var[1] == pytest.approx(0.3 ** 2 * 0.25, rel=0.1)  # a coin flip between 0 and A
    assert var[2] < 1e-3


def test_likelihood_fit_with_jitter_scatter_has_honest_errors(rng):
    """Binned single-shot data (6 pumped shots per delay, each with its own jitter)."""
    from expctl.testing.synthetic_events import PumpResponse

    truth = PumpResponse(amplitude=-0.3, t0=0.35, tau=2.0, jitter=0.1)
    t = np.array([-1.0, 0.0, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0])
    shots, noise = 6, 0.03
    pulls = []
    for _ in range(30):
        per_shot = truth.per_shot(np.repeat(t, shots), rng) + rng.normal(0, noise, t.size * shots)
        y = per_shot.reshape(t.size, shots).mean(axis=1)
        fit = fit_pump_response(t, y, np.full(t.size, noise / np.sqrt(shots)),
                                shots=np.full(t.size, float(shots)))
        pulls.append([(fit.t0 - 0.35) / fit.t0_err, (fit.tau - 2.0) / fit.tau_err])
    spread = np.std(pulls, axis=0)
    assert np.all((spread > 0.5) & (spread < 1.5)), spread
    assert np.all(np.abs(np.mean(pulls, axis=0)) < 0.6)
