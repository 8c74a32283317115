"""Writing a reduction cube as a small NeXus HDF5 file.

``/entry/data`` (NXdata) plots the relative change against the bin variable
with its errors in any NeXus viewer; ``laser_on``/``laser_off`` keep the
per-bin sums and ``nEntries`` so cubes of different runs can be added;
``fit`` holds the pump-response parameters with errors, how the jitter was set
(``sigma_source``), which parameters the data leave undetermined and why
(``undetermined``, JSON) and the model curve.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from expctl import __version__
from expctl.runlog.h5util import iso_time, json_attr
from expctl.runlog.reduce import BinStats, Cube

if TYPE_CHECKING:
    import h5py

__all__ = ["CUBE_FORMAT", "write_cube"]

CUBE_FORMAT = "expctl-cube/1"


def _axis_name(bin_var: str) -> str:
    return bin_var.rsplit("/", 1)[-1] or "bin"


def _write_stats(g: h5py.Group, stats: BinStats) -> None:
    g.attrs["NX_class"] = "NXcollection"
    g.create_dataset("nEntries", data=stats.n)
    g.create_dataset("norm", data=stats.norm)
    g.create_dataset("norm_err", data=stats.norm_err)
    g.create_dataset("norm_err_moderated", data=stats.moderated_err)
    g.create_dataset("norm_err_typical", data=stats.typical_err)
    g.create_dataset("signal_std", data=stats.signal_std)
    sums = g.create_group("sums")
    for key, values in stats.sums.items():
        sums.create_dataset(key.replace("/", "__"), data=values).attrs["source"] = key


def write_cube(cube: Cube, path: Path) -> Path:
    """Write ``cube`` to ``path`` (parents created); returns the path."""
    import h5py

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    axis = _axis_name(cube.options.bin_var)
    with h5py.File(path, "w") as f:
        f.attrs.update({
            "NX_class": "NXroot", "default": "entry", "file_format": CUBE_FORMAT,
            "creator": f"expctl {__version__}", "file_time": iso_time(time.time()),
            "runs": json_attr(list(cube.runs)), "bin_var": cube.options.bin_var,
            "signal": cube.options.signal, "i0": cube.options.i0,
            "options": json_attr({k: getattr(cube.options, k)
                                  for k in cube.options.__dataclass_fields__}),
            "rejected": json_attr(cube.rejected), "shots_total": cube.shots_total,
        })
        entry = f.create_group("entry")
        entry.attrs.update({"NX_class": "NXentry", "default": "data"})
        entry.create_dataset("title", data=f"pump-probe cube of runs {_run_span(cube.runs)}",
                             dtype=h5py.string_dtype())
        data = entry.create_group("data")
        data.attrs.update({"NX_class": "NXdata", "signal": "relative", "axes": axis,
                           f"{axis}_indices": 0})
        data.create_dataset(axis, data=cube.centers).attrs["units"] = cube.units
        data.create_dataset("relative", data=cube.relative).attrs["long_name"] = (
            "ΔI/I = (Σs/ΣI0)_on / (Σs/ΣI0)_off − 1")
        model_err = cube.model_errors()
        errors = data.create_dataset("relative_errors", data=(
            cube.relative_err if model_err is None else model_err))
        errors.attrs["source"] = ("per-bin scatter (moderated)" if model_err is None
                                  else "noise model of the pump-response fit")
        data.create_dataset("relative_errors_scatter", data=cube.relative_err)
        entry.create_dataset("bin_edges", data=cube.edges).attrs["units"] = cube.units
        _write_stats(entry.create_group("laser_on"), cube.on)
        _write_stats(entry.create_group("laser_off"), cube.off)
        if cube.fit is not None:
            fit = entry.create_group("fit")
            fit.attrs["NX_class"] = "NXcollection"
            fit.attrs["model"] = "A·H(t−t0)·exp(−(t−t0)/τ) ⊛ Gauss(σ) + baseline"
            fit.attrs["sigma_source"] = cube.fit.sigma_source
            fit.attrs["undetermined"] = json_attr(dict(cube.fit.undetermined))
            for key, value in cube.fit.as_dict().items():
                if isinstance(value, (bool, int, float)):
                    ds = fit.create_dataset(key, data=value)
                    if key in ("t0", "t0_err", "tau", "tau_err", "sigma", "sigma_err"):
                        ds.attrs["units"] = cube.fit.units
            lo, hi = float(cube.edges[0]), float(cube.edges[-1])
            t = np.linspace(lo, hi, 400)
            fit.create_dataset(axis, data=t).attrs["units"] = cube.units
            fit.create_dataset("curve", data=cube.fit.curve(t))
    return path


def _run_span(runs: tuple[int, ...]) -> str:
    if not runs:
        return "(none)"
    return f"{min(runs)}–{max(runs)} ({len(runs)} runs)"
