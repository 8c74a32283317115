"""The numpy twin of the numba peak-fit kernels gives the same bits, not just close values.

The fitted centre moves theta, so which of the two fitted a curve must not show
in any run file: every float is compared by its bytes.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from expctl.analysis import _peakfit, _peakfit_py, find_peak
from expctl.analysis import peaks as peaks_module
from expctl.analysis.lineshape import pseudo_voigt
from expctl.analysis.peakweights import refit_with_estimated_noise
from expctl.testing.synthetic_data import rocking_curve

FREE = {"pseudo_voigt": (True, 0.5), "gaussian": (False, 0.0), "lorentzian": (False, 1.0)}


def _bits(*values: object) -> list[bytes | int]:
    return [np.asarray(v, dtype=np.float64).tobytes() if not isinstance(v, int) else v
            for v in values]


def _fit_both(x, y, w, model, reweights):
    """Both kernels from the same start, with the noise refit after a converged fit."""
    est = peaks_module._estimate(x, y)
    eta_free, eta0 = FREE[model]
    p0 = np.array([est.center, est.fwhm if est.fwhm > 0 else 1.0, est.height,
                   est.background, eta0])
    free = np.array([True, True, True, True, eta_free])
    out = []
    for kernels in (_peakfit, _peakfit_py):
        with np.errstate(all="ignore"):  # (the refit's numpy may warn on wild curves)
            p, err, red, status = kernels.fit_reweighted(x, y, w, p0, free, 100, reweights,
                                                         1e-3)
            got = _bits(p, err, red, int(status))
            if status == kernels.CONVERGED and reweights:
                got += _bits(*refit_with_estimated_noise(x, y, w, p, free, kernels, 1e-3, 100))
        out.append(got)
    return out


def _synthetic(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(7, 200))
    x = np.linspace(-1.0, 1.0, n) if seed % 3 else np.sort(rng.uniform(-1.0, 1.0, n))
    shape = rng.uniform(0.0, 5.0) * pseudo_voigt(x, rng.uniform(-1.2, 1.2),
                                                 10 ** rng.uniform(-2, 0.3),
                                                 rng.uniform(0.0, 1.0))
    model = shape + rng.uniform(-1.0, 1.0)
    if seed % 7 == 0:  # photon counts: integers, many zeros
        y = rng.poisson(np.maximum(20.0 * model, 0.0)).astype(float)
    else:
        y = model + 10 ** rng.uniform(-4, 0) * rng.standard_normal(n)
    return x, y, rng.uniform(0.5, 2.0, n)


def _floats(r):
    return [v for v in r.as_dict().values() if isinstance(v, float)]


@pytest.mark.parametrize("seed", range(60))
@pytest.mark.parametrize("model", sorted(FREE))
def test_twin_fits_synthetic_curves_to_the_same_bits(seed, model):
    x, y, w = _synthetic(seed)
    for reweights in (2, 0):
        numba_bits, numpy_bits = _fit_both(x, y, w, model, reweights)
        assert numpy_bits == numba_bits


@pytest.mark.parametrize("seed", range(20))
def test_twin_fits_simulated_rocking_curves_to_the_same_bits(seed):
    rng = np.random.default_rng(seed)
    curve = rocking_curve(rng, shots=1 + seed % 3)
    y = curve.signal.sum(axis=1) / curve.i0.sum(axis=1)
    numba_bits, numpy_bits = _fit_both(curve.x, y, curve.i0.sum(axis=1), "pseudo_voigt", 2)
    assert numpy_bits == numba_bits


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(y=hnp.arrays(np.float64, st.integers(7, 40),
                    elements=st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)),
       model=st.sampled_from(sorted(FREE)))
def test_twin_agrees_on_any_finite_curve(y, model):
    x = np.arange(y.size, dtype=float)
    numba_bits, numpy_bits = _fit_both(x, y, np.ones(y.size), model, 2)
    assert numpy_bits == numba_bits


def test_find_peak_gives_the_same_result_whichever_kernels_fit(monkeypatch):
    curve = rocking_curve(np.random.default_rng(3))
    short = find_peak(curve.x, curve.signal, i0=curve.i0)
    monkeypatch.setattr(peaks_module, "NUMBA_FIT_MIN_POINTS", 0)
    long = find_peak(curve.x, curve.signal, i0=curve.i0)
    assert short.ok
    assert _bits(*_floats(short)) == _bits(*_floats(long))
    assert short.flags == long.flags


def test_a_rocking_curve_fit_does_not_load_numba():
    code = ("import sys, numpy as np\n"
            "from expctl.analysis import find_peak\n"
            "from expctl.testing.synthetic_data import rocking_curve\n"
            "c = rocking_curve(np.random.default_rng(1))\n"
            "r = find_peak(c.x, c.signal, i0=c.i0)\n"
            "print(r.ok, 'numba' in sys.modules, 'scipy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["True", "False", "False"]


def test_long_scans_are_fitted_by_the_numba_kernels():
    assert peaks_module._fit_kernels(peaks_module.NUMBA_FIT_MIN_POINTS + 1) is _peakfit
    assert peaks_module._fit_kernels(41) is _peakfit_py
