"""Named results: what each result-producing step yields, and the analyses ``analyze:`` calls.

The static checker needs the *shape* of a result (its fields) before any data
exists, so ``${rock.centre}`` fails at validation with a did-you-mean.  Shapes
come from the result dataclasses themselves (``PeakResult``, ``ScanData``), so
they cannot drift from what the run returns.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from expctl.errors import Location, SequenceError
from expctl.sequence.expr import ResultShape, Unknown

__all__ = ["ANALYSES", "Analysis", "result_shape", "signal_devices", "split_signal"]


@dataclass(frozen=True)
class Analysis:
    """An analysis ``analyze: {fn: …}`` may call: its arguments and what it returns."""

    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    returns: str
    run: Callable[..., Any]


def _find_peak(data: Any, signal: str, i0: str | None = None, method: str = "fit") -> Any:
    from expctl.analysis import find_peak

    y = data.column(signal)
    norm = data.column(i0) if i0 else None
    return find_peak(data.positions, y, i0=norm, method=method)


#: analyses by name
ANALYSES: dict[str, Analysis] = {
    "find_peak": Analysis("find_peak", ("data", "signal"), ("i0", "method"), "peak",
                          _find_peak),
}


def _fields(kind: str) -> dict[str, str | None]:
    if kind in ("peak", "rocking_curve"):
        from expctl.analysis import PeakResult

        names = [f.name for f in dataclasses.fields(PeakResult)] + ["ok"]
        return {n: None for n in names}
    if kind == "scan":
        from expctl.plans.stubs import ScanData

        return {f.name: None for f in dataclasses.fields(ScanData)}
    raise KeyError(kind)


def result_shape(kind: str, args: Mapping[str, Any], loc: Location) -> ResultShape:
    """The shape of the result of a ``kind`` step (``rocking_curve``, ``scan``, an analysis)."""
    if kind in ANALYSES:
        analysis = ANALYSES[kind]
        data = args.get("data")
        if data is not None and not isinstance(data, ResultShape | Unknown):
            raise SequenceError(f"analyze {kind}: data must be a scan result such as ${{s}}",
                                location=loc, device="data")
        if isinstance(data, ResultShape) and data.kind != "scan":
            raise SequenceError(f"analyze {kind}: data must be a scan result, got a "
                                f"{data.kind} result", location=loc, device="data")
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
