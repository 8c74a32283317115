"""``expctl reduce``: bin runs into a delay cube, fit the pump response, write HDF5 + PNG."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from expctl.cli import Command
from expctl.errors import DataError, UserError
from expctl.paths import DATA_DIR_HELP, resolve_data_dir

__all__ = ["COMMAND", "fit_lines", "parse_bins", "parse_runs"]

#: Runs one reduction may name, and bins it may make (bounds on what a typo can cost).
MAX_RUNS = 100_000
MAX_BINS = 100_000


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
                    if b - a >= MAX_RUNS:
                        raise UserError(f"run range {part} spans {b - a + 1} runs",
                                        allowed=f"at most {MAX_RUNS} runs")
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
            n = (stop - start) / step
            if not n < MAX_BINS:  # (also catches nan and inf)
                raise _too_many(text)
            return [start + k * step for k in range(int(math.floor(n + 1e-9)) + 1)]
        if "," in text:
            return [float(v) for v in text.split(",")]
        count = int(text)
        if not 0 < count <= MAX_BINS:
            raise _too_many(text)
        return count
    except ValueError:
        raise UserError(f"--bins {text!r} is not understood",
                        allowed="unique, a count (40), edges (-1,0,0.5,1) or "
                                "start:stop:step (-2:10:0.25)") from None


def _too_many(text: str) -> UserError:
    return UserError(f"--bins {text!r} asks for more bins than a reduction makes",
                     allowed=f"1 to {MAX_BINS} bins")


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
    p.add_argument("runs", nargs="*",
                   help="run numbers or ranges (12 14 20-30); none (and no --where): the "
                        "newest campaign's runs that can be binned")
    p.add_argument("--where", help="select runs from the catalog, e.g. 'sequence==pumpprobe'")
    p.add_argument("--bin", default="scan/delay", dest="bin_var",
                   help="per-shot variable to bin by (default scan/delay)")
    p.add_argument("--bins", help="unique (default), N, a,b,c edges or start:stop:step")
    p.add_argument("--signal", default="mpccd/ROI_0_sum", help="detector reduction to normalise")
    p.add_argument("--background", metavar="COLUMN", default="auto",
                   help="subtract this per-shot background of the signal's size, e.g. "
                        "mpccd/ROI_1_sum (diffuse scatter and pedestal drift); auto "
                        "(default): the one the profile's detector declares; none: no "
                        "subtraction")
    p.add_argument("--i0", default="pd_i0", help="I0 monitor (default pd_i0)")
    p.add_argument("--i0-window", help="absolute I0 window LOW,HIGH (pC)")
    p.add_argument("--i0-rel", help="I0 window relative to the median per laser state, LOW,HIGH")
    p.add_argument("--i0-cal", metavar="WHERE",
                   help="cross-calibrate the I0 gain ranges with the runs this filter selects "
                        "(sequences/pd_calibration.yaml), e.g. \"sequence == 'pd_calibration'\"")
    p.add_argument("--keep-xray-off", action="store_true",
                   help="keep shots with lightStatus/xray == 0")
    p.add_argument("--jitter", type=float, default=None,
                   help="known timing jitter σ in ps, fixed in the fit (default: the rms of "
                        "a timing tool's tt/ column if the runs have one, else fitted under "
                        "a log-normal prior, median 0.05 ps ×/÷ 10)")
    p.add_argument("--fit-jitter", action="store_true",
                   help="report σ as a result: fail unless the delay grid resolves it")
    p.add_argument("--timing-tool", default="auto", metavar="COLUMN",
                   help="timing-tool column whose rms is the jitter (auto: tt/ttCorr or "
                        "tt/FLTPOS_PS; none: ignore)")
    p.add_argument("--baseline", action="store_true",
                   help="fit a constant ΔI/I offset too (absorbs on/off calibration offsets)")
    p.add_argument("--allow-partial", action="store_true",
                   help="exit 0 even if the data leave some fit parameter undetermined")
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

    if args.jitter is not None and args.fit_jitter:
        raise UserError("--jitter fixes the jitter and --fit-jitter fits it; give one")
    if args.jitter is not None and not (math.isfinite(args.jitter) and args.jitter > 0):
        raise UserError(f"--jitter {args.jitter} is not a jitter", allowed="> 0 ps")
    return ReduceOptions(
        bin_var=args.bin_var, bins=parse_bins(args.bins), signal=args.signal,
        background=None if args.background.lower() == "none" else args.background,
        i0=args.i0,
        i0_window=_window(args.i0_window, "--i0-window"),
        i0_relative=_window(args.i0_rel, "--i0-rel"), require_xray=not args.keep_xray_off,
        fit=not args.no_fit, jitter=args.jitter, fit_jitter=args.fit_jitter,
        timing_tool=None if args.timing_tool.lower() == "none" else args.timing_tool,
        baseline=args.baseline)


def _outputs(args: argparse.Namespace, data_dir: Path, runs: tuple[int, ...]) -> tuple[Path, Path]:
    """Where the cube and plot go: ``--out``/``--plot``, else the data directory's
    ``reduced/`` — or, for an archive this user cannot write, ``./expctl-reduced/``."""
    from expctl.runlog import reduced_dir

    tag = f"{min(runs)}-{max(runs)}" if runs else "none"
    folder = reduced_dir(data_dir)
    if not args.out and not _writable(folder):
        fallback = Path("expctl-reduced")
        print(f"note: {folder} cannot be written here (a read-only archive?); writing to "
              f"{fallback}/ instead (--out chooses)", file=sys.stderr)
        folder = fallback
    cube = Path(args.out) if args.out else folder / f"cube_{tag}.h5"
    plot = Path(args.plot) if args.plot else cube.with_suffix(".png")
    return cube, plot


def _writable(folder: Path) -> bool:
    """Whether files can be made in ``folder`` (or, if missing, in its nearest ancestor)."""
    import os

    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return os.access(folder, os.W_OK | os.X_OK)


def _emit(cube: Any, args: argparse.Namespace, data_dir: Path) -> None:
    from expctl.errors import storage_error
    from expctl.runlog import write_cube
    from expctl.ui.plots import plot_cube

    cube_path, png = _outputs(args, data_dir, cube.runs)
    try:
        write_cube(cube, cube_path)
        plot_cube(cube, png)
    except OSError as exc:
        raise storage_error(exc, "write the reduction", exc.filename or cube_path) from None
    summary = cube.as_dict()
    summary.update({"cube": str(cube_path), "plot": str(png)})
    if args.json:
        json.dump(summary, sys.stdout)
        sys.stdout.write("\n")
    else:
        from expctl.ui.report import inert

        print(inert("\n".join([f"{len(cube.runs)} runs, {cube.shots_total} shots, "
                                f"{len(cube.centers)} bins -> {cube_path} , {png}",
                                *([f"  signal {cube.options.signal} minus its background "
                                   f"{cube.options.background} (--background none: raw)"]
                                  if cube.options.background else []),
                                *fit_lines(cube.fit)]), newlines=True))
    sys.stdout.flush()


def fit_lines(fit: Any) -> list[str]:
    """The fit in a few indented lines: values ± errors, how the jitter was set, what is
    undetermined."""
    if fit is None:
        return []
    u = fit.units

    def value(name: str, label: str, unit: str = "") -> str:
        if name in fit.undetermined:
            return f"{label} not constrained"
        v, e = getattr(fit, name), getattr(fit, f"{name}_err")
        return f"{label} = {v:.4g} ± {e:.2g}{' ' + unit if unit else ''}"

    names = [("t0", "t0", u), ("amplitude", "A", ""), ("tau", "tau", u)]
    if fit.baseline_fitted:
        names.append(("baseline", "baseline", ""))
    lines = ["  " + ", ".join(value(*n) for n in names)]
    if fit.bracketed and fit.t0_bracket:
        lo, hi = fit.t0_bracket
        lines.append(f"  t0 bracketed: the edge lies between {lo:g} and {hi:g} {u}, sharper "
                     f"than that step; t0 is its midpoint ± step/√12 (sample finer there to "
                     f"measure it better)")
    if fit.sigma_fitted and "sigma" not in fit.undetermined and math.isfinite(fit.sigma_err):
        jitter = f"jitter sigma = {fit.sigma:.3g} ± {fit.sigma_err:.2g} {u} ({fit.sigma_source})"
    else:
        jitter = f"jitter sigma: {fit.sigma_source} {u}".rstrip()
    lines.append(f"  {jitter}; noise {100 * fit.noise:.3g} % per pumped shot at mean I0, "
                 f"response noise {100 * fit.response_noise:.2g} ± "
                 f"{100 * fit.response_noise_err:.2g} % of the change; "
                 f"chi2/dof = {fit.chi2:.1f}/{fit.dof}")
    lines += [f"  undetermined: {why}" for why in dict.fromkeys(fit.undetermined.values())]
    return lines


def _check_complete(cube: Any, allow_partial: bool) -> None:
    """Exit 1 with what to measure when the fit leaves a parameter undetermined."""
    fit = cube.fit
    if fit is None or fit.complete or allow_partial:
        return
    names = ", ".join(fit.undetermined)
    reasons = "; ".join(dict.fromkeys(fit.undetermined.values()))
    raise DataError(f"the pump-response fit leaves {names} undetermined: {reasons}",
                    hint="The cube and plot are written; --allow-partial accepts a partial "
                         "result (exit 0).")


def _nothing_selected(where: str | None, catalog: Any) -> UserError:
    """Why nothing was selected: no runs at all, or none the filter keeps."""
    logged = sum(1 for _ in catalog.rows())
    if not where:
        return UserError(f"no runs selected: no campaign in {catalog.data_dir} kept runs "
                         "that can be binned", hint="Give run numbers (12 20-30) or "
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
        for run in runs:
            if catalog_row(catalog, run)["outcome"] == "superseded":
                raise UserError(f"run {run} is superseded: a resumed campaign redid its step "
                                "on a fresh spot, so it does not count",
                                hint="Leave it out; `expctl runs` lists the runs that count.")
        if select is not None:  # a selection skips superseded runs and runs without the bin
            runs += [r.run for r in catalog.rows()
                     if select(r.values) and binnable(r.values, options) and r.run not in runs
                     and r["outcome"] != "superseded"]
        if not runs and select is None:  # no choice given: the newest campaign's runs
            runs = _newest_campaign_runs(data_dir, catalog, options, quiet=args.json)
        if not runs:
            raise _nothing_selected(args.where, catalog)
        # checked against the SHA-256 recorded at each run's stop: a damaged copy says so
        paths = [catalog.verified_file(catalog_row(catalog, run).run)
                 for run in sorted(set(runs))]
    cube = reduce_runs(paths, options)
    _emit(cube, args, data_dir)
    _check_complete(cube, args.allow_partial)
    return 0


def _newest_campaign_runs(data_dir: Path, catalog: Any, options: Any, *,
                          quiet: bool) -> list[int]:
    """The runs the newest campaign kept that can be binned (a calibration campaign taken
    after a delay scan is passed over); says which campaign it took, unless ``quiet``."""
    from expctl.engine.journal import Journal
    from expctl.engine.journalfile import list_campaigns
    from expctl.runlog.follow import binnable

    rows = {r.run: r for r in catalog.rows()}
    for info in reversed(list_campaigns(data_dir)):
        kept = [r.run for r in Journal.read(data_dir, info.id).campaign_runs()
                if r.run in rows and binnable(rows[r.run].values, options)
                and rows[r.run]["outcome"] != "superseded"]
        if kept:
            if not quiet:
                print(f"reducing campaign {info.id} ({info.sequence}, "
                      f"{'completed' if info.finished else 'unfinished'}): {len(kept)} runs "
                      f"{min(kept)}–{max(kept)}; give run numbers or --where for others",
                      file=sys.stderr)
            return kept
    return []


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
