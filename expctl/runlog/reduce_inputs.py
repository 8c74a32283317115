"""What a reduction takes from the run files: columns, their units, the jitter.

Kept apart from the statistics of :mod:`expctl.runlog.reduce`: here the files
are read, the bin variable's unit is checked to be one (files of layout 1 carry
none: then ps is assumed, as those files were logged in), and the jitter the
fit uses is chosen — given, else a timing tool's rms, else fitted under the
documented prior :data:`~expctl.runlog.fit.JITTER_PRIOR` (50 fs ×/÷ 10, wide
enough for a two-colour SDO's fs and an optical laser's 100–300 fs).  The
jitter a profile's physics declares (``UserDataCfg/timing``) is not used: on a
simulated beamline it is the simulator's hidden truth.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from expctl.errors import DataError, UnitError, UserError
from expctl.runlog.fit import JITTER_PRIOR, Jitter
from expctl.runlog.reader import ColumnMissingError, read_run, read_user_config
from expctl.units import convert, dimension_of

if TYPE_CHECKING:
    from expctl.runlog.reduce import ReduceOptions

__all__ = ["ASSUMED_UNIT", "AUTO_BACKGROUND", "MIN_TIMING_TOOL_SHOTS", "TIMING_TOOL_COLUMNS",
           "Inputs", "choose_jitter", "load_inputs", "resolve_background"]

#: ``ReduceOptions.background`` meaning "the background the runs' profile declares".
AUTO_BACKGROUND = "auto"
#: Per-shot timing-tool columns (arrival time or its correction) whose spread over the
#: pumped shots is the jitter, first found first used.
TIMING_TOOL_COLUMNS = ("tt/ttCorr", "tt/FLTPOS_PS")
#: Fewest pumped shots with a timing-tool reading for its rms to set the jitter.
MIN_TIMING_TOOL_SHOTS = 10
#: The bin variable's unit when no file records one (layout 1 logged delays in ps).
ASSUMED_UNIT = "ps"


@dataclass(frozen=True, slots=True)
class Inputs:
    """The selected runs' numeric per-shot columns (concatenated) and what goes with them.

    Attributes:
        columns: columns common to every run, float64.
        runs: the run numbers read (runs without shots left out).
        empty: how many runs had no shot.
        units: each column's unit, where the files record one.
        unit: the bin variable's unit (:data:`ASSUMED_UNIT` if unrecorded).
    """

    columns: dict[str, np.ndarray]
    runs: list[int]
    empty: int
    units: dict[str, str]
    unit: str


def resolve_background(paths: Sequence[Path], o: ReduceOptions) -> ReduceOptions:
    """``o`` with its background as a column or None: ``"auto"`` takes the one the runs'
    profile declared for the signal (``UserDataCfg/backgrounds``), if any."""
    if o.background != AUTO_BACKGROUND:
        return o
    declared: dict[str, str] = {}
    if paths:
        text = read_user_config(paths[0], "backgrounds")
        try:
            declared = json.loads(text) if text else {}
        except json.JSONDecodeError:
            raise DataError(f"{paths[0]}: UserDataCfg/backgrounds is not JSON: {text!r}",
                            hint="Give --background COLUMN (or none).") from None
    return replace(o, background=declared.get(o.signal))


def load_inputs(paths: Sequence[Path], o: ReduceOptions) -> Inputs:
    """Read the runs for a reduction (see the module docstring)."""
    if not paths:
        raise UserError("no runs to reduce", hint="give run numbers or --where")
    required = (o.bin_var, o.signal, o.i0, o.laser) + ((o.background,) if o.background else ())
    parts: list[dict[str, np.ndarray]] = []
    runs: list[int] = []
    units: dict[str, set[str]] = {}
    empty = 0
    for path in paths:
        try:
            data = read_run(path, required=required, attrs=("run",))
        except ColumnMissingError as exc:  # the file is fine; the chosen run or column is not
            raise UserError(f"cannot reduce {exc.message}", allowed=exc.allowed,
                            hint="Choose runs taken in a delay loop (e.g. --where "
                                 "\"sequence == 'pumpprobe'\") or another "
                                 "--bin/--signal/--background/--i0.") from None
        if not data.columns:
            empty += 1
            continue
        if o.i0_calibration is not None:
            data = replace(data, columns=o.i0_calibration.applied(path, data.columns))
        runs.append(int(data.attrs.get("run", -1)))
        parts.append({k: v for k, v in data.columns.items()
                      if v.dtype.kind in "iufb" and k != "tag"})
        for key, unit in data.units.items():
            units.setdefault(key, set()).add(unit)
    if not parts:
        raise DataError(f"none of the {len(paths)} runs holds a shot")
    common = set.intersection(*(set(p) for p in parts))
    cols = {k: np.concatenate([p[k] for p in parts]).astype(np.float64) for k in sorted(common)}
    if o.background:  # the same-sized background box: diffuse scatter and pedestal drift
        cols[o.signal] = cols[o.signal] - cols[o.background]
    found = units.get(o.bin_var, set())
    if len(found) > 1:
        raise DataError(f"the selected runs log {o.bin_var} in different units: "
                        f"{', '.join(sorted(found))}",
                        hint="Reduce runs of one data layout together.")
    unit = next(iter(found)) if found else ASSUMED_UNIT
    return Inputs(cols, runs, empty, {k: next(iter(v)) for k, v in units.items()
                                      if len(v) == 1}, unit)


def choose_jitter(inputs: Inputs, pumped: np.ndarray, o: ReduceOptions) -> Jitter:
    """The jitter the fit uses, in the bin variable's unit: ``--jitter`` (ps), else a
    timing tool's robust rms over the pumped shots, else fitted under the prior."""
    unit = inputs.unit
    prior = _prior(inputs, o)
    if o.jitter is not None:
        return Jitter(_in_unit(o.jitter, "ps", unit, "--jitter"), "given", prior)
    cols = inputs.columns
    names = TIMING_TOOL_COLUMNS if o.timing_tool == "auto" else (
        (o.timing_tool,) if o.timing_tool else ())
    for name in names:
        if name not in cols:
            if o.timing_tool not in (None, "auto"):
                raise UserError(f"no timing-tool column {name} in the selected runs",
                                allowed=", ".join(k for k in cols if k.startswith("tt/"))
                                or "no tt/ columns",
                                hint="Give another --timing-tool, or none to fit the jitter.")
            continue
        values = cols[name][pumped]
        values = values[np.isfinite(values)]
        if len(values) >= MIN_TIMING_TOOL_SHOTS:
            rms = 1.4826 * float(np.median(np.abs(values - np.median(values))))
            if rms > 0:
                rms = _in_unit(rms, inputs.units.get(name, unit), unit, name)
                return Jitter(rms, f"timing tool {name} (robust rms of {len(values)} pumped "
                                   f"shots)", prior)
    return Jitter(None, "fitted", prior, of_interest=o.fit_jitter,
                  prior_source="given" if o.jitter_prior is not None else "default")


def _prior(inputs: Inputs, o: ReduceOptions) -> tuple[float, float]:
    """(median, factor) of a fitted jitter's prior, in the bin variable's unit."""
    if o.jitter_prior is not None:
        return o.jitter_prior
    return _in_unit(JITTER_PRIOR[0], "ps", inputs.unit, "the jitter prior"), JITTER_PRIOR[1]


def _in_unit(value: float, unit: str, target: str, what: str) -> float:
    """``value`` in the bin variable's unit (a jitter is a time; the bin must be one)."""
    try:
        return convert(value, unit, target)
    except UnitError:
        logged_in = f"{target} ({dimension_of(target)})" if target else "plain numbers"
        raise UserError(f"{what} is a time, but the bin variable is logged in {logged_in}",
                        hint="Bin by a delay (--bin scan/delay) to fit a pump response, or "
                             "give --no-fit.") from None
