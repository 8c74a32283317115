"""Multi-sensor assembly and azimuthal integration against numpy references."""

from __future__ import annotations

import math

import numpy as np
import pytest

from expctl.analysis import AnalysisError, AssemblyPlan, AzimuthalBins, SensorGeometry
from expctl.testing.synthetic_data import octal_geometry


def ref_assemble(frames, plan):
    """Per canvas pixel: invert the sensor placement, round to the nearest pixel (numpy)."""
    out = np.zeros(plan.shape, dtype=np.float64)
    ys, xs = np.mgrid[0:plan.shape[0], 0:plan.shape[1]].astype(np.float64)
    for k, s in enumerate(plan.sensors):
        t = math.radians(s.rotation_deg)
        scale = s.pixel_um / plan.pixel_um
        dx = xs - (s.position_um[0] / plan.pixel_um + plan.origin[1])
        dy = ys - (s.position_um[1] / plan.pixel_um + plan.origin[0])
        r = np.floor((-dx * math.sin(t) + dy * math.cos(t)) / scale + 0.5)
        c = np.floor((dx * math.cos(t) + dy * math.sin(t)) / scale + 0.5)
        inside = (r >= 0) & (r < s.shape[0]) & (c >= 0) & (c < s.shape[1])
        out[inside] = frames[k][r[inside].astype(int), c[inside].astype(int)] * s.gain
    return out


SMALL = [
    SensorGeometry((0.0, 0.0), 0.0, 1.0, (40, 24), 50.0),
    SensorGeometry((2000.0, 300.0), 90.0, 2.0, (40, 24), 50.0),
    SensorGeometry((-800.0, 2600.0), 180.7, 0.5, (40, 24), 50.0),
    SensorGeometry((1900.0, 2400.0), 33.0, 1.0, (40, 24), 75.0),
]


def test_assembly_matches_numpy_reference_for_any_angle(rng):
    plan = AssemblyPlan.from_sensors(SMALL)
    frames = rng.integers(1, 1000, size=(4, 40, 24)).astype(np.uint16)
    img = plan.assemble(frames)
    ref = ref_assemble(frames, plan)
    # the kernel clamps at the exact sensor edge where the numpy floor may differ by round-off
    assert np.count_nonzero(img != ref) <= 4
    assert img.dtype == np.float32


def test_axis_aligned_sensor_is_copied_exactly(rng):
    plan = AssemblyPlan.from_sensors([SensorGeometry((0.0, 0.0), 0.0, 1.0, (40, 24))],
                                     shape=(60, 50), origin=(5.0, 7.0))
    frame = rng.integers(0, 65535, size=(1, 40, 24)).astype(np.uint16)
    img = plan.assemble(frame)
    np.testing.assert_array_equal(img[5:45, 7:31], frame[0])
    assert img.sum() == pytest.approx(float(frame.sum()), rel=1e-6)
    assert plan.covered().sum() == 40 * 24


def test_bright_pixel_lands_where_the_geometry_says(rng):
    geometry = octal_geometry(rng)
    plan = AssemblyPlan.from_sensors(geometry, shape=(2399, 2399))
    frames = np.zeros((8, 1024, 512), dtype=np.float32)
    for k, s in enumerate(geometry):
        r, c = 100 + 50 * k, 30 + 40 * k
        frames[k, r, c] = 1000.0
        img = plan.assemble(frames)
        t = math.radians(s.rotation_deg)
        x = s.position_um[0] / 50.0 + plan.origin[1] + c * math.cos(t) - r * math.sin(t)
        y = s.position_um[1] / 50.0 + plan.origin[0] + c * math.sin(t) + r * math.cos(t)
        hits = np.argwhere(img == 1000.0)
        assert len(hits) >= 1
        assert np.all(np.abs(hits - [y, x]) <= 1.0)
        frames[k, r, c] = 0.0


def test_octal_canvas_holds_every_sensor_pixel_once(rng):
    geometry = octal_geometry(rng)
    plan = AssemblyPlan.from_sensors(geometry, shape=(2399, 2399))
    frames = np.ones((8, 1024, 512), dtype=np.float32)
    img = plan.assemble(frames)
    assert plan.shape == (2399, 2399) and plan.origin == (1199.0, 1199.0)
    # tilts of < 0.3 deg resample but keep the area: within 0.1 % of 8 x 1024 x 512
    assert img.sum() == pytest.approx(8 * 1024 * 512, rel=1e-3)
    assert img[1199, 1199] == 0.0  # the beam hole


def test_assembly_errors():
    plan = AssemblyPlan.from_sensors(SMALL)
    with pytest.raises(AnalysisError, match=r"frames shape \(3, 40, 24\) does not match"):
        plan.assemble(np.zeros((3, 40, 24)))
    with pytest.raises(AnalysisError, match="at least one sensor"):
        AssemblyPlan.from_sensors([])
    with pytest.raises(AnalysisError, match="all sensors must have one shape"):
        AssemblyPlan.from_sensors([SMALL[0], SensorGeometry((0.0, 0.0), shape=(8, 8))])


def test_azimuthal_integration_matches_bincount_reference(rng):
    shape = (64, 80)
    mask = rng.random(shape) < 0.1
    bins = AzimuthalBins.from_geometry(shape, (20.0, 35.0), pixel_um=50.0, distance_mm=50.0,
                                       energy_kev=10.0, bins=30, mask=mask)
    frames = rng.normal(100.0, 10.0, size=(3,) + shape).astype(np.float32)
    ped = rng.normal(5.0, 1.0, size=shape).astype(np.float32)
    res = bins.integrate(frames, ped)
    idx = bins.index
    sel = idx >= 0
    for f in range(3):
        sums = np.bincount(idx[sel], weights=(frames[f].astype(np.float64) - ped)[sel],
                           minlength=30)
        np.testing.assert_allclose(res.sums[f], sums, rtol=1e-9)
    assert bins.pixels.sum() == np.count_nonzero(~mask)


def test_azimuthal_profile_of_a_ring_peaks_at_its_q():
    shape = (128, 128)
    bins = AzimuthalBins.from_geometry(shape, (64.0, 64.0), pixel_um=50.0, distance_mm=30.0,
                                       energy_kev=10.0, bins=40)
    r = np.hypot(*np.mgrid[0:128, 0:128] - 64.0)
    ring_r = 40.0
    frame = np.exp(-0.5 * ((r - ring_r) / 1.5) ** 2)
    res = bins.integrate(frame)
    two_theta = math.atan(ring_r * 0.05 / 30.0)
    q_ring = 4 * math.pi * math.sin(two_theta / 2) / (12.398419843 / 10.0)
    assert abs(res.q[np.nanargmax(res.mean[0])] - q_ring) <= (bins.edges[1] - bins.edges[0])
