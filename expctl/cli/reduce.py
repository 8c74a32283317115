"""``expctl reduce``: bin runs into a delay cube, fit the pump response, write HDF5 + PNG."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from expctl.cli import Command
from expctl.errors import UserError
from expctl.paths import DATA_DIR_HELP, resolve_data_dir

__all__ = ["COMMAND", "parse_bins", "parse_runs"]


def parse_runs(specs: list[str]) -> list[int]:
    """Run numbers from ``12 14 20-30`` style arguments."""
    runs: list[int] = []
    for spec in specs:
        for part in spec.split(","):
            part = part.strip()
            lo, sep, hi = part.partition("-")
            try:
                if sep:
                    a, b = int(lo), int(hi)
                    if b < a:
                        raise ValueError
                    runs.extend(range(a, b + 1))
                elif part:
                    runs.append(int(part))
            except ValueError:
                raise UserError(f"bad run specification {part!r}",
                                allowed="numbers and ranges, e.g. 12 14 20-30") from None
    return runs


def parse_bins(text: str | None) -> int | list[float] | None:
    """``--bins``: omitted/``unique`` = one bin per scan value, ``N`` = N uniform bins,
    ``a,b,c`` = edges, ``start:stop:step`` = regular edges."""
    if text is None or text == "unique":
        return None
    try:
        if ":" in text:
            start, stop, step = (float(v) for v in text.split(":"))
            if step <= 0 or stop <= start:
                raise ValueError
            n = int(math.floor((stop - start) / step + 1e-9))
            return [start + k * step for k in range(n + 1)]
        if "," in text:
            return [float(v) for v in text.split(",")]
        return int(text)
    except ValueError:
        raise UserError(f"--bins {text!r} is not understood",
                        allowed="unique, a count (40), edges (-1,0,0.5,1) or "
                                "start:stop:step (-2:10:0.25)") from None


def _window(text: str | None, name: str) -> tuple[float | None, float | None]:
    if not text:
        return (None, None)
    lo, sep, hi = text.partition(",")
    try:
        if not sep:
            raise ValueError
        return (float(lo) if lo.strip() else None, float(hi) if hi.strip() else None)
    except ValueError:
        raise UserError(f"{name} {text!r} is not a window",
                        allowed="LOW,HIGH with either side empty, e.g. 50, or 0.5,2") from None


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("runs", nargs="*", help="run numbers or ranges (12 14 20-30)")
    p.add_argument("--where", help="select runs from the catalog, e.g. 'sequence==pumpprobe'")
    p.add_argument("--bin", default="scan/delay", dest="bin_var",
                   help="per-shot variable to bin by (default scan/delay)")
    p.add_argument("--bins", help="unique (default), N, a,b,c edges or start:stop:step")
    p.add_argument("--signal", default="mpccd/ROI_0_sum", help="detector reduction to normalise")
    p.add_argument("--i0", default="pd_i0", help="I0 monitor (default pd_i0)")
    p.add_argument("--i0-window", help="absolute I0 window LOW,HIGH (pC)")
    p.add_argument("--i0-rel", help="I0 window relative to the median per laser state, LOW,HIGH")
    p.add_argument("--i0-cal", metavar="WHERE",
                   help="cross-calibrate the I0 gain ranges with the runs this filter selects "
                        "(sequences/pd_calibration.yaml), e.g. \"sequence == 'pd_calibration'\"")
    p.add_argument("--keep-xray-off", action="store_true",
                   help="keep shots with lightStatus/xray == 0")
    p.add_argument("--jitter", type=float, default=None,
                   help="timing jitter σ in ps for the fit (default 0.1, fixed)")
    p.add_argument("--fit-jitter", action="store_true", help="fit σ too")
    p.add_argument("--no-fit", action="store_true", help="skip the pump-response fit")
    p.add_argument("--out", help="cube HDF5 path (default <data>/reduced/cube_<runs>.h5)")
    p.add_argument("--plot", help="PNG path (default: next to the cube)")
    p.add_argument("--follow", action="store_true",
                   help="keep watching the catalog; reduce again whenever a selected run stops")
    p.add_argument("--interval", type=float, default=2.0, help="--follow poll interval (s)")
    p.add_argument("--json", action="store_true", help="the cube summary as JSON on stdout")
    p.add_argument("--data-dir", metavar="DIR", help=DATA_DIR_HELP)


def _options(args: argparse.Namespace) -> Any:
    from expctl.runlog import ReduceOptions
    from expctl.runlog.fit import DEFAULT_JITTER_PS

    return ReduceOptions(
        bin_var=args.bin_var, bins=parse_bins(args.bins), signal=args.signal, i0=args.i0,
        i0_window=_window(args.i0_window, "--i0-window"),
        i0_relative=_window(args.i0_rel, "--i0-rel"), require_xray=not args.keep_xray_off,
        fit=not args.no_fit, jitter=DEFAULT_JITTER_PS if args.jitter is None else args.jitter,
        fit_jitter=args.fit_jitter)


def _outputs(args: argparse.Namespace, data_dir: Path, runs: tuple[int, ...]) -> tuple[Path, Path]:
    from expctl.runlog import reduced_dir

    tag = f"{min(runs)}-{max(runs)}" if runs else "none"
    cube = Path(args.out) if args.out else reduced_dir(data_dir) / f"cube_{tag}.h5"
    plot = Path(args.plot) if args.plot else cube.with_suffix(".png")
    return cube, plot


def _emit(cube: Any, args: argparse.Namespace, data_dir: Path) -> None:
    from expctl.runlog import write_cube
    from expctl.ui.plots import plot_cube

    cube_path, png = _outputs(args, data_dir, cube.runs)
    write_cube(cube, cube_path)
    plot_cube(cube, png)
    summary = cube.as_dict()
    summary.update({"cube": str(cube_path), "plot": str(png)})
    if args.json:
        json.dump(summary, sys.stdout)
        sys.stdout.write("\n")
    else:
        fit = cube.fit
        line = (f"{len(cube.runs)} runs, {cube.shots_total} shots, {len(cube.centers)} bins "
                f"-> {cube_path} , {png}")
        if fit is not None and math.isfinite(fit.t0):
            line += (f"\n  t0 = {fit.t0:.3f} ± {fit.t0_err:.3f} {fit.units}, "
                     f"A = {fit.amplitude:.4f} ± {fit.amplitude_err:.4f}, "
                     f"tau = {fit.tau:.3f} ± {fit.tau_err:.3f} {fit.units}, "
                     f"chi2/dof = {fit.chi2:.1f}/{fit.dof}")
        print(line)
    sys.stdout.flush()


def _nothing_selected(where: str | None, catalog: Any) -> UserError:
    """Why nothing was selected: no runs at all, or none the filter keeps."""
    logged = sum(1 for _ in catalog.rows())
    if not where:
        return UserError("no runs selected", hint="Give run numbers (12 20-30) or "
                         "--where, e.g. --where \"sequence == 'pumpprobe'\".")
    if not logged:
        return UserError(f"no runs selected: the catalog in {catalog.data_dir} is empty",
                         hint="Take some with `expctl run SEQUENCE`, or point --data-dir "
                              "at the beamtime's data directory.")
    return UserError(f"no runs selected: none of the {logged} logged runs matches "
                     f"--where {where!r} and has the bin variable",
                     hint="`expctl runs --where ...` shows what a filter keeps.")


def _run(args: argparse.Namespace) -> int:
    from expctl.cli.runs import catalog_row, open_catalog
    from expctl.runlog import Follower, parse_where, reduce_runs
    from expctl.runlog.follow import binnable

    data_dir = resolve_data_dir(args.data_dir)
    select = parse_where(args.where) if args.where else None
    options = _options(args)
    if args.i0_cal:
        options = _with_i0_calibration(options, args.i0_cal, data_dir, quiet=args.json)
    if args.follow:
        import time

        if args.runs:
            listed = "run in (" + ",".join(map(str, sorted(set(parse_runs(args.runs))))) + ")"
            select = parse_where(f"({args.where}) and {listed}" if args.where else listed)
        follower = Follower(data_dir, options, select, on_cube=lambda c: _emit(c, args, data_dir))
        while True:  # ends with Ctrl-C (exit 130)
            follower.poll()
            time.sleep(args.interval)
    runs = parse_runs(args.runs)
    with open_catalog(data_dir) as catalog:
        if select is not None:  # a selection skips runs without the bin variable
            runs += [r.run for r in catalog.rows()
                     if select(r.values) and binnable(r.values, options) and r.run not in runs]
        if not runs:
            raise _nothing_selected(args.where, catalog)
        paths = [catalog.file_of(catalog_row(catalog, run).run) for run in sorted(set(runs))]
    _emit(reduce_runs(paths, options), args, data_dir)
    return 0


def _with_i0_calibration(options: Any, where: str, data_dir: Path, *, quiet: bool) -> Any:
    """``options`` with the I0 calibration measured from the runs ``where`` selects."""
    from dataclasses import replace

    from expctl.cli.runs import open_catalog
    from expctl.runlog import parse_where
    from expctl.runlog.calibration import measure_i0_calibration

    select = parse_where(where)
    with open_catalog(data_dir) as catalog:
        paths = [catalog.file_of(r.run) for r in catalog.rows() if select(r.values)]
    if not paths:
        raise UserError(f"--i0-cal {where!r} selects no run",
                        hint="take sequences/pd_calibration.yaml first; `expctl runs --where "
                             "...` shows what a filter keeps.")
    cal = measure_i0_calibration(paths, i0=options.i0)
    if not quiet:
        print(f"I0 calibration from {len(paths)} runs: {cal.summary()}")
    return replace(options, i0_calibration=cal)


COMMAND = Command(name="reduce", help="reduce runs into a delay cube (HDF5 + PNG) with a "
                                      "pump-response fit", configure=_configure, run=_run)
