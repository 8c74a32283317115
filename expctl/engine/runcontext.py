"""The context a run is logged with: loop values, params and scan variables in log units.

Every number a run is tagged with is converted here, once, to the unit the log
declares for its dimension (:data:`expctl.units.LOG_UNITS`), and its unit is
recorded beside it — so a delay list written ``[500 fs, 1 ps]`` is logged as
0.5 and 1 ps in the run file, the catalog, ``--where`` and ``reduce`` alike.
Scan variables are only what steps declared (:attr:`StepBegin.scan`), never
guessed from names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from expctl.engine.events import RunContext
from expctl.plans.actions import StepBegin
from expctl.units import logged

__all__ = ["logged_params", "run_context"]


def logged_params(context: RunContext) -> RunContext:
    """``context`` with its params in log units (their units recorded), as runs carry them."""
    params, units = _section("params", context.params, {})
    kept = {k: v for k, v in context.units.items() if not k.startswith("params.")}
    return replace(context, params=params, units=kept | units)


def run_context(base: RunContext, begins: Iterable[StepBegin], *, label: str,
                sample_spot: Mapping[str, Any] | None,
                device_units: Mapping[str, str]) -> RunContext:
    """The context of a run taken inside the steps ``begins`` (outermost first).

    Args:
        base: the campaign's context (sequence, params already in log units).
        begins: the open steps; inner ones override outer values of the same name.
        label: the run's label.
        sample_spot: the spot the run is taken on.
        device_units: each device's unit: a plain-number scan value of a device is in it.
    """
    loop: dict[str, Any] = {}
    scan: dict[str, Any] = {}
    step: int | None = None
    path = ""
    for begin in begins:
        loop.update(begin.context)
        if begin.scan:
            scan.update(begin.scan)
            step = begin.scan_step
        path = begin.path
    loop_values, loop_units = _section("loop", loop, {})
    scan_values, scan_units = _section("scan", scan, device_units)
    scan_numbers = {k: float(v) for k, v in scan_values.items()
                    if isinstance(v, int | float) and not isinstance(v, bool)}
    units = {k: v for k, v in base.units.items() if k.startswith("params.")}
    units |= loop_units | {k: v for k, v in scan_units.items()
                           if k.split(".", 1)[1] in scan_numbers}
    return replace(base, step_path=path, label=label, loop=loop_values, scan=scan_numbers,
                   sample_spot=sample_spot, units=units, scan_step=step)


def _section(section: str, values: Mapping[str, Any], device_units: Mapping[str, str]
             ) -> tuple[dict[str, Any], dict[str, str]]:
    """Values of one context section in log units, and ``{"section.name": unit}``."""
    out: dict[str, Any] = {}
    units: dict[str, str] = {}
    for name, value in values.items():
        number, unit = logged(value, device_units.get(name, ""))
        out[name] = number
        if unit:
            units[f"{section}.{name}"] = unit
    return out, units
