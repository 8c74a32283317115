"""Rich views at a real terminal width: the where-all table and validation findings."""

from __future__ import annotations

import io

from rich.console import Console

from expctl.errors import Location, SequenceError
from expctl.ui.views import print_devices, print_errors


def _console() -> Console:
    return Console(file=io.StringIO(), width=80, record=True, color_system=None)


ROWS = {
    "theta": {"kind": "motor", "value": 11.40251234, "units": "deg", "limits": "10 .. 13 deg",
              "access": "user"},
    "attenuator": {"kind": "attenuator", "value": 0.0, "units": "um",
                   "limits": "0 .. 1575 um in steps of 25 um (64 values)", "access": "user"},
    "pump_delay": {"kind": "accelerator", "value": 0.0, "units": "ps",
                   "limits": "-10 .. 100 ps", "access": "accelerator-request"},
    "mpccd": {"kind": "mpccd", "value": None, "units": "ADU", "limits": "", "access": "user"},
}


def test_devices_table_fits_80_columns_and_only_limits_wrap():
    console = _console()
    print_devices(console, ROWS)
    lines = console.export_text().splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert lines[1].split() == ["device", "kind", "value", "units", "limits", "access"]
    assert lines[2].split() == ["theta", "motor", "11.4025", "deg", "10", "..", "13", "user"]
    assert lines[3].split() == ["attenuator", "attenuator", "0", "um", "0", "..", "1575", "in",
                                "steps", "user"]
    assert lines[4].split() == ["of", "25", "(64", "values)"]  # only the limits wrap
    assert lines[5].split() == ["pump_delay", "accelerator", "0", "ps", "-10", "..", "100",
                                "accelerator-request"]


def _problem(line: int, message: str) -> SequenceError:
    return SequenceError(message, location=Location("s.yaml", line, 3))


def test_findings_are_printed_in_line_order_one_per_line():
    console = _console()
    print_errors(console, [_problem(9, "late"), _problem(2, ("early " * 20).strip())], "s.yaml")
    lines = console.export_text().splitlines()
    assert lines == ["s.yaml: 2 problems", "  s.yaml:2:3: " + ("early " * 20).strip(),
                     "  s.yaml:9:3: late"]


def test_a_single_finding_of_the_file_is_one_error_line():
    console = _console()
    print_errors(console, [_problem(4, "unknown device 'thetaa'")], "s.yaml")
    assert console.export_text() == "error: s.yaml:4:3: unknown device 'thetaa'\n"
