"""ippy.reconstruction: sensor dicts onto a canvas, by the analysis assembly plan."""

from __future__ import annotations

import numpy as np
import pytest

from expctl.analysis.assembly import AssemblyPlan, SensorGeometry
from expctl.compat import APIError, ippy

IMG = np.arange(1.0, 7.0, dtype=np.float32).reshape(2, 3)


def _sensor(**over):
    sensor = {"img": IMG, "xPosPixel": 0.0, "yPosPixel": 0.0, "pixelSize": 50.0, "dScale": 1.0,
              "rotAngle": 0.0, "mask": None, "succeeded": True, "iScale": 1.0}
    sensor.update(over)
    return sensor


@pytest.mark.parametrize(("angle", "where"), [
    (0.0, lambda r, c: (3 - r, 3 - c)),
    (90.0, lambda r, c: (3 - c, 4 + r)),
    (180.0, lambda r, c: (4 + r, 4 + c)),
    (270.0, lambda r, c: (4 + c, 3 - r)),
])
def test_rotations_put_each_pixel_where_the_facility_convention_says(angle, where):
    """Pixel (r, c) around X = −(c+½)cosθ + (r+½)sinθ, Y = −(c+½)sinθ − (r+½)cosθ.

    The corner of pixel (0, 0) is at the centre of the 8 × 8 canvas, between
    canvas pixels 3 and 4.
    """
    canvas = ippy.reconstruction([_sensor(rotAngle=angle)], 8, 8, 50.0, 0)
    assert canvas.shape == (8, 8) and canvas.dtype == np.float32
    expected = np.zeros((8, 8), np.float32)
    for r in range(2):
        for c in range(3):
            expected[where(r, c)] = IMG[r, c]
    np.testing.assert_array_equal(canvas, expected)


def test_positions_are_pixel_corners_in_sensor_pixels_from_the_canvas_centre():
    # the corner of pixel (0, 0) 3 pixels right of and 1 below the centre: rows run up, columns left
    canvas = ippy.reconstruction([_sensor(xPosPixel=3, yPosPixel=1)], 8, 8, 50.0, "nearest")
    np.testing.assert_array_equal(canvas[3:5, 4:7], IMG[::-1, ::-1])
    assert canvas.sum() == IMG.sum()


def test_iscale_mask_and_dscale():
    mask = np.array([[True, False, True], [True, True, False]])
    canvas = ippy.reconstruction([_sensor(rotAngle=180.0, iScale=2.0, mask=mask)], 8, 8, 50.0, 0)
    np.testing.assert_array_equal(canvas[4:6, 4:7], 2.0 * np.where(mask, IMG, 0))
    big = ippy.reconstruction([_sensor(dScale=2.0)], 16, 16, 50.0, 0)
    assert big.sum() == 4 * IMG.sum()  # each sensor pixel covers 2 x 2 canvas pixels
    half = ippy.reconstruction([_sensor(pixelSize=25.0)], 8, 8, 50.0, 0)
    assert np.count_nonzero(half) < IMG.size  # smaller sensor pixels: fewer canvas pixels


def test_failed_sensors_are_skipped_and_none_gives_an_empty_canvas():
    both = [_sensor(), _sensor(xPosPixel=-3, yPosPixel=-3, succeeded=False)]
    np.testing.assert_array_equal(ippy.reconstruction(both, 8, 8, 50.0, 0),
                                  ippy.reconstruction(both[:1], 8, 8, 50.0, 0))
    assert not ippy.reconstruction([], 5, 4, 50.0, 0).any()


def test_same_image_as_the_analysis_plan(rng):
    """ippy is the analysis plan turned by θ + 180° about the centre of pixel (0, 0)."""
    imgs = rng.normal(300, 10, (3, 16, 8)).astype(np.float32)
    sensors = [_sensor(img=imgs[k], xPosPixel=x, yPosPixel=y, rotAngle=a, iScale=g)
               for k, (x, y, a, g) in enumerate([(-10.5, 2, 0, 1.0), (3, -9, 90, 1.1),
                                                 (12, 12, 213.5, 0.9)])]
    got = ippy.reconstruction(sensors, 41, 39, 50.0, 0)

    def first_pixel_centre(s):
        t = np.radians(s["rotAngle"])
        return ((s["xPosPixel"] - 0.5 * np.cos(t) + 0.5 * np.sin(t)) * 50.0,
                (s["yPosPixel"] - 0.5 * np.sin(t) - 0.5 * np.cos(t)) * 50.0)

    plan = AssemblyPlan.from_sensors(
        [SensorGeometry(first_pixel_centre(s), s["rotAngle"] + 180.0, s["iScale"], (16, 8))
         for s in sensors], pixel_um=50.0, shape=(39, 41))
    np.testing.assert_array_equal(got, plan.assemble(imgs))


@pytest.mark.parametrize(("args", "message"), [
    (([_sensor()], 7, 7, 50.0, 3), "reconstruction: unknown mode 3 (allowed: 0, 'nearest')"),
    (([_sensor()], 0, 7, 50.0, 0),
     "reconstruction: need a positive canvas, got 0 x 7 of 50.0 um pixels"),
    (([{"img": IMG}], 7, 7, 50.0, 0),
     "reconstruction: sensor 0 lacks xPosPixel, yPosPixel, pixelSize, rotAngle"),
    (([_sensor(img=np.ones(4))], 7, 7, 50.0, 0),
     "reconstruction: sensor 0 image must be 2-D, got shape (4,)"),
    (([_sensor(mask=np.ones((3, 2), bool))], 7, 7, 50.0, 0),
     "reconstruction: sensor 0 mask shape (3, 2) differs from its image (2, 3)"),
    (([_sensor(), _sensor(img=np.ones((3, 3)))], 7, 7, 50.0, 0),
     "reconstruction: sensors must share one shape, got [(2, 3), (3, 3)]"),
])
def test_bad_input_is_an_api_error_saying_what(args, message):
    with pytest.raises(APIError) as err:
        ippy.reconstruction(*args)
    assert err.value.paragraph() == message
