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
    reduce_runs,
    write_cube,
)

from .conftest import JITTER, TRUTH


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


def test_campaign_reduces_to_the_ground_truth(campaign):
    cube = reduce_runs(_paths(campaign))
    assert cube.shots_total == 17 * 4 * 202
    np.testing.assert_allclose(cube.centers, [-1.0, -0.5, -0.2, 0.0, 0.1, 0.2, 0.3, 0.4, 0.6,
                                              0.8, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0])
    assert cube.on.n.tolist() == [8] * 17 and cube.off.n.tolist() == [800] * 17
    fit = cube.fit
    assert fit is not None and fit.converged and fit.complete, fit.undetermined
    assert abs(fit.t0 - TRUTH.t0_ps) < 0.1 and abs(fit.t0 - TRUTH.t0_ps) < 3 * fit.t0_err
    assert abs(fit.tau - TRUTH.tau_ps) < 0.15 * TRUTH.tau_ps
    assert abs(fit.tau - TRUTH.tau_ps) < 3 * fit.tau_err
    assert abs(fit.amplitude - TRUTH.amplitude) < 3 * fit.amplitude_err
    assert 0.3 < fit.reduced_chi2 < 3.0
    # no jitter given and no timing tool: fitted under the documented prior, and it says so
    assert fit.sigma_fitted and fit.sigma_source == "fitted, log-normal prior median 0.05 ×/÷ 10"
    assert abs(fit.sigma - JITTER) < 3 * fit.sigma_err
    # the per-shot noise the fit found gives every bin an error, the fit's χ² is fair
    assert np.all(np.isfinite(cube.model_errors()))
    # the reference level is flat: Σs/ΣI0 per bin agrees within its errors
    pulls = (cube.off.norm - cube.off.norm.mean()) / cube.off.moderated_err
    assert np.abs(pulls).max() < 5.0 and np.std(pulls) < 2.0


@pytest.mark.slow
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
                             "outside_bins": 0, "no_reference_in_bin": 0}
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


@pytest.mark.slow
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


@pytest.mark.slow
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
        assert f["entry/fit"].attrs["sigma_source"] == cube.fit.sigma_source
        assert json.loads(f["entry/fit"].attrs["undetermined"]) == {}
        np.testing.assert_array_equal(f["entry/data/relative_errors"][:], cube.model_errors())
        assert f["entry/data/relative_errors"].attrs["source"] == (
            "noise model of the pump-response fit")
        np.testing.assert_array_equal(f["entry/data/relative_errors_scatter"][:],
                                      cube.relative_err)
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


def test_background_box_is_subtracted_from_the_signal_shot_by_shot(campaign):
    paths = _paths(campaign, lambda r: r["scan"]["delay"] == 2.0)
    plain = reduce_runs(paths, ReduceOptions(fit=False))
    cube = reduce_runs(paths, ReduceOptions(fit=False, background="mpccd/ROI_1_sum"))
    signal, background = "mpccd/ROI_0_sum", "mpccd/ROI_1_sum"
    for state in ("on", "off"):
        before, after = getattr(plain, state), getattr(cube, state)
        np.testing.assert_allclose(after.sums[signal],
                                   before.sums[signal] - before.sums[background])
    assert cube.as_dict()["background"] == background
    with pytest.raises(UserError, match="mpccd/ROI_7_sum"):
        reduce_runs(paths, ReduceOptions(fit=False, background="mpccd/ROI_7_sum"))


def test_the_background_a_profile_declares_is_subtracted_by_default(tmp_path):
    """bl3's detector declares ROI_1_sum as ROI_0_sum's background: its run files say so
    (UserDataCfg/backgrounds), reduce subtracts it unless told ``None``, and a signal
    without a declared background is left raw."""
    from expctl.devices.registry import BackendRegistry
    from expctl.runlog.smalldata import SmallDataConfig, declared_backgrounds
    from expctl.testing.synthetic_events import synthetic_campaign

    from .conftest import log_events

    profile = BackendRegistry().find_profile("bl3")
    assert declared_backgrounds(profile) == {"mpccd/ROI_0_sum": "mpccd/ROI_1_sum"}
    data_dir = tmp_path / "data"
    log_events(data_dir, synthetic_campaign([0.0, 2.0], spots_per_delay=1, reference_shots=20,
                                            pumped_shots=2, rng=np.random.default_rng(1),
                                            response=TRUTH, jitter=JITTER),
               smalldata=SmallDataConfig.from_profile(profile))
    paths = sorted((data_dir / "runs").rglob("run*.h5"))
    auto = reduce_runs(paths, ReduceOptions(fit=False))
    raw = reduce_runs(paths, ReduceOptions(fit=False, background=None))
    assert auto.options.background == "mpccd/ROI_1_sum" and raw.options.background is None
    signal, background = "mpccd/ROI_0_sum", "mpccd/ROI_1_sum"
    np.testing.assert_allclose(auto.off.sums[signal],
                               raw.off.sums[signal] - raw.off.sums[background])
    other = reduce_runs(paths, ReduceOptions(fit=False, signal="mpccd/ROI_1_sum"))
    assert other.options.background is None
