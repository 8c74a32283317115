"""The kernels on the simulator's own MPCCD images: photon truth, ROI sums, octal layout."""

from __future__ import annotations

import numpy as np
import pytest

from expctl.analysis import AssemblyPlan, SensorGeometry, count_photons, reduce_frames
from expctl.devices import load_profile

backend = pytest.importorskip("sim.backend")
detector = pytest.importorskip("sim.physics.detector")


@pytest.fixture(scope="module")
def profile():
    return load_profile(backend.PROFILE_DIR / "bl3.yaml")


def test_photon_count_and_roi_sums_equal_the_simulators_truth(profile):
    opts = profile.devices["mpccd"].options
    model = detector.DetectorModel.from_options("mpccd", opts)
    tags = np.arange(2000, 2012, 2)
    n = tags.size
    shots = model.shots(11, tags, np.full(n, 2500.0), np.full(n, 4.0), np.full(n, 10.0))
    frames = np.stack([model.render(11, int(t), 0, {k: v[i] for k, v in shots.items()})
                       for i, t in enumerate(tags)])
    pedestal = model.pedestal(11, 0)
    app = float(model.adu_per_photon(10.0))
    truth = shots["mpccd/photon_nPhot"]
    # read noise 150 e- = 8.3 ADU against 152 ADU per photon: counting at half a photon
    # (9 sigma) miscounts only photons whose charge the sensor shares between pixels
    # (~1 % of them with a 4 um charge cloud)
    counted = count_photons(frames, pedestal, app)
    assert np.all(np.abs(counted - truth) <= 0.03 * truth + 2)
    rois = [tuple(opts["rois"][k][1:]) for k in ("roi0", "roi1")]
    red = reduce_frames(frames, pedestal, rois, app)
    np.testing.assert_array_equal(red.nphot, counted)
    # images are rounded to whole ADU: 1600 pixels x uniform(+-0.5) -> 11.5 ADU rms per ROI
    rounding = np.sqrt(1600 / 12.0)
    for k in range(2):
        diff = red.roi_sums[:, k] - shots[f"mpccd/ROI_{k}_sum"]
        assert np.all(np.abs(diff) < 5 * rounding), diff


def test_profile_octal_layout_assembles_to_2398_square(profile):
    sensors = [SensorGeometry.centered(tuple(s["pos_um"][:2]), s["rotation_deg"],
                                       gain=s["absgain"] / 18.0)
               for s in profile.devices["mpccd_octal"].options["sensors"]]
    plan = AssemblyPlan.from_sensors(sensors)
    assert plan.shape == (2398, 2398)
    img = plan.assemble(np.ones((8, 1024, 512), dtype=np.float32))
    # right angles only: every sensor pixel lands on exactly one canvas pixel
    assert plan.covered().sum() == 8 * 1024 * 512
    assert img.sum() == pytest.approx(sum(s.gain for s in sensors) * 1024 * 512, rel=1e-6)
