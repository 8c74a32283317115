"""Named results: what each result-producing step yields, and the analyses ``analyze:`` calls.

The static checker needs the *shape* of a result (its fields) before any data
exists, so ``${rock.centre}`` fails at validation with a did-you-mean.  Shapes
come from the result dataclasses themselves (``PeakResult``, ``ScanData``), so
they cannot drift from what the run returns.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from expctl.devices.profile import Profile
from expctl.errors import ExpctlError, Location, SequenceError
from expctl.records import record
from expctl.sequence.expr import ResultShape, Unknown, describe_value
from expctl.sequence.suggest import did_you_mean

__all__ = ["ANALYSES", "DETECTOR_KINDS", "Analysis", "profile_detectors", "result_shape",
           "signal_devices", "split_signal"]


@record
class Analysis:
    """An analysis ``analyze: {fn: …}`` may call: its arguments and what it returns.

    ``facility`` analyses read frames through the facility archive: the engine
    passes them ``archive`` and ``daq_config``; dry-runs limit them to a few shots.
    """

    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    returns: str
    run: Callable[..., Any]
    facility: bool = False


def _find_peak(data: Any, signal: str, i0: str | None = None, method: str = "fit") -> Any:
    from expctl.analysis import find_peak

    y = data.column(signal)
    norm = data.column(i0) if i0 else None
    return find_peak(data.positions, y, i0=norm, method=method)


def _dark_subtracted_sum(run: Any, dark: Any, detector: str, roi: Any = None,
                         threshold: float = 0.5, *, archive: Any, daq_config: Any,
                         max_shots: int | None = None) -> Any:
    from expctl.analysis.runsums import dark_subtracted_sum

    number = getattr(run, "beamline", None)
    return dark_subtracted_sum(archive, run, dark, detector, daq_config=daq_config,
                               beamline=number, roi=roi, threshold=float(threshold),
                               max_shots=max_shots)


#: analyses by name
ANALYSES: dict[str, Analysis] = {
    "find_peak": Analysis("find_peak", ("data", "signal"), ("i0", "method"), "peak",
                          _find_peak),
    "dark_subtracted_sum": Analysis("dark_subtracted_sum", ("run", "dark", "detector"),
                                    ("roi", "threshold"), "run_sum", _dark_subtracted_sum,
                                    facility=True),
}


def _fields(kind: str) -> dict[str, str | None]:
    if kind in ("peak", "rocking_curve"):
        from expctl.analysis import PeakResult

        names = [f.name for f in dataclasses.fields(PeakResult)] + ["ok"]
        return {n: None for n in names}
    if kind == "scan":
        from expctl.plans.stubs import ScanData

        return {f.name: None for f in dataclasses.fields(ScanData)}
    if kind == "run":
        from expctl.devices.protocols import RunRecord

        return {f.name: None for f in dataclasses.fields(RunRecord)}
    if kind == "run_sum":
        from expctl.analysis.runsums import RunSumResult

        return {n: None for n in [f.name for f in dataclasses.fields(RunSumResult)] + ["ok"]}
    raise ExpctlError(f"no result shape is known for {kind!r} steps")


#: device kinds that are detectors when a profile does not list ``daq: detectors``
DETECTOR_KINDS = frozenset({"mpccd", "detector"})


def profile_detectors(profile: Profile | None) -> tuple[str, ...]:
    """The detectors the DAQ reads: ``daq: detectors:`` of the profile, else by device kind."""
    if profile is None:
        return ()
    if profile.daq.detectors:
        return profile.daq.detectors
    return tuple(n for n, spec in profile.devices.items() if spec.kind in DETECTOR_KINDS)


def _check_run_arg(kind: str, name: str, value: Any, loc: Location) -> None:
    """``run:``/``dark:`` of a facility analysis: a run result (``${ref}``) or a run number."""
    if isinstance(value, Unknown) or (isinstance(value, ResultShape) and value.kind == "run"):
        return
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return
    got = (f"a {value.kind} result" if isinstance(value, ResultShape)
           else repr(value) if isinstance(value, str) else describe_value(value))
    raise SequenceError(f"analyze {kind}: {name} must be a run result such as ${{{name}}} "
                        f"(a `run:` step with `as: {name}`) or a run number, got {got}",
                        location=loc, device=name)


def _check_run_sum(kind: str, args: Mapping[str, Any], locs: Mapping[str, Location],
                   loc: Location, profile: Profile | None) -> None:
    for name in ("run", "dark"):
        if name in args:
            _check_run_arg(kind, name, args[name], locs.get(name, loc))
    detector = args.get("detector")
    loc_det = locs.get("detector", loc)
    known = profile_detectors(profile)
    if profile is not None and isinstance(detector, str) and known and detector not in known:
        raise SequenceError(f"analyze {kind}: {detector!r} is not a detector of profile "
                            f"{profile.name}", location=loc_det, device="detector",
                            allowed=", ".join(known), hint=did_you_mean(detector, known))
    if detector is not None and not isinstance(detector, str | Unknown):
        raise SequenceError(f"analyze {kind}: detector must be a detector name, got "
                            f"{describe_value(detector)}", location=loc_det, device="detector",
                            allowed=", ".join(known) or None)
    threshold = args.get("threshold")
    if threshold is not None and not isinstance(threshold, Unknown) and not (
            isinstance(threshold, int | float) and not isinstance(threshold, bool)
            and 0 < threshold <= 1):
        raise SequenceError(f"analyze {kind}: threshold is a fraction of a photon in (0, 1], "
                            f"got {describe_value(threshold)}",
                            location=locs.get("threshold", loc),
                            device="threshold", allowed="0 < threshold <= 1")


def result_shape(kind: str, args: Mapping[str, Any], loc: Location,
                 profile: Profile | None = None,
                 locs: Mapping[str, Location] | None = None) -> ResultShape:
    """The shape of the result of a ``kind`` step (``rocking_curve``, ``scan``, ``run``,
    an analysis), checking an analysis's arguments against ``profile`` on the way.

    Args:
        kind: the step kind or analysis name.
        args: the analysis arguments, evaluated (results as :class:`ResultShape`).
        loc: where the step was written.
        profile: the beamline profile (detector names); None skips those checks.
        locs: where each argument was written, for errors that point at it.
    """
    if kind in ANALYSES:
        analysis = ANALYSES[kind]
        data = args.get("data")
        if data is not None and not isinstance(data, ResultShape | Unknown):
            raise SequenceError(f"analyze {kind}: data must be a scan result such as ${{s}}",
                                location=loc, device="data")
        if isinstance(data, ResultShape) and data.kind != "scan":
            raise SequenceError(f"analyze {kind}: data must be a scan result, got a "
                                f"{data.kind} result", location=loc, device="data")
        if analysis.returns == "run_sum":
            _check_run_sum(kind, args, locs or {}, loc, profile)
        return ResultShape(analysis.returns, _fields(analysis.returns))
    return ResultShape(kind, _fields(kind))


def split_signal(signal: str, loc: Location) -> tuple[str, str | None]:
    """``"mpccd.roi0 / pd_i0"`` -> ``("mpccd.roi0", "pd_i0")``: the signal and its I0."""
    parts = [p.strip() for p in signal.split("/")]
    if not 1 <= len(parts) <= 2 or not all(parts):
        raise SequenceError(f"signal {signal!r} must be NAME or NAME / I0NAME", location=loc,
                            device="signal", hint="e.g. `signal: mpccd.roi0 / pd_i0`.")
    return parts[0], parts[1] if len(parts) == 2 else None


def signal_devices(signal: str, loc: Location) -> tuple[str, ...]:
    """The devices a signal expression reads (``mpccd.roi0 / pd_i0`` -> mpccd, pd_i0)."""
    sig, i0 = split_signal(signal, loc)
    names = [sig.split(".")[0]] + ([i0.split(".")[0]] if i0 else [])
    return tuple(dict.fromkeys(names))
