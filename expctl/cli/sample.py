"""``expctl sample``: the sample registry — which spots of which sample are used, by what.

``list`` and ``show`` only read.  ``new NAME`` registers a sample and mounts it (the
one now on the plate), ``mount NAME`` mounts one registered before; both take
control of the beamline for a moment, since they change what a running sequence
would use.  ``mark``/``unmark`` record spots by hand; ``unmark`` is the one way to
let ``next_spot`` hand out a used spot again.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from expctl.cli import Command

__all__ = ["COMMAND", "sample_dict"]


def _configure(p: argparse.ArgumentParser) -> None:
    from expctl.cli.run import add_session_args

    common = argparse.ArgumentParser(add_help=False)  # options after the action, too
    common.add_argument("--json", action="store_true", help="print one JSON object")
    add_session_args(common, seeds=False)
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    def action(name: str, text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=text, description=text, parents=[common])

    action("list", "every registered sample with its spots used and left")
    show = action("show", "one sample: every used spot with its runs")
    show.add_argument("name", metavar="NAME")
    new = action("new", "register a new sample and mount it")
    new.add_argument("name", metavar="NAME")
    new.add_argument("--comment", default="", help="what it is (crystal, batch …)")
    new.add_argument("--grid", default=None, help="spot grid (default: the profile's only one)")
    new.add_argument("--no-mount", dest="mount", action="store_false",
                     help="register only; mount it later with `expctl sample mount`")
    mount = action("mount", "mount a registered sample (e.g. put back on)")
    mount.add_argument("name", metavar="NAME")
    mount.add_argument("--grid", default=None, help="spot grid (default: the only one)")
    for verb, what in (("mark", "mark spots used by hand (damaged, bad crystal region)"),
                       ("unmark", "make spots available again (they will be handed out)")):
        sp = action(verb, what)
        sp.add_argument("name", metavar="NAME")
        sp.add_argument("spots", nargs="+", metavar="SPOTS", help="spot numbers/ranges: 3 7-9")
        if verb == "mark":
            sp.add_argument("--destroyed", action="store_true",
                            help="mark destroyed rather than exposed")
            sp.add_argument("--note", default="", help="why (kept with the spots)")


def sample_dict(info: Any, *, spots: bool = False) -> dict[str, Any]:
    """A sample as JSON: name, grid, size, used, fresh, mounted on, (spots)."""
    out = {"name": info.name, "grid": info.grid, "spots": info.spots, "used": info.used,
           "fresh": info.fresh, "mounted_on": [f"bl{b}" for b in info.mounted_on],
           "created": info.created, "comment": info.comment}
    if spots:
        out["spot_records"] = [{"spot": r.spot, "state": r.state, "campaign": r.campaign,
                                "step": r.step, "note": r.note, "time": r.time,
                                "runs": [{"run": n, "label": lab, "outcome": o}
                                         for n, lab, o in r.runs]} for r in info.records]
    return out


def _run(args: argparse.Namespace) -> int:
    from expctl.beamtime.samples import SampleRegistry, parse_spots
    from expctl.cli.run import open_session
    from expctl.paths import resolve_data_dir

    data_dir = resolve_data_dir(args.data_dir)
    if args.action in ("list", "show"):
        with SampleRegistry(data_dir, readonly=True) as reg:
            infos = reg.samples() if args.action == "list" else [reg.get(args.name)]
        return _show(infos, args, detailed=args.action == "show")
    if args.action in ("mark", "unmark"):
        spots = parse_spots(" ".join(args.spots))
        with SampleRegistry(data_dir) as reg:
            if args.action == "mark":
                state = "destroyed" if args.destroyed else "exposed"
                changed = reg.mark(args.name, spots, state, args.note)
                text = f"marked {state}: {_span(changed)}" if changed else "nothing changed"
            else:
                gone = reg.unmark(args.name, spots)
                text = (f"available again: {_span([r.spot for r in gone])}"
                        if gone else "those spots were not used")
            info = reg.get(args.name)
        return _done(args, info, f"{info.name}: {text}")
    with open_session(args) as session:
        session.take_control(f"expctl sample {args.action} {args.name}")
        new = args.action == "new"
        if new and not args.mount:
            grid = args.grid or next(iter(session.beamline.spot_grids), "")
            info = session.samples.new(args.name, grid,
                                       len(session.beamline.spot_grids[grid]), args.comment)
        else:
            info = session.mount(args.name, grid=args.grid, new=new,
                                 comment=getattr(args, "comment", ""))
    what = "registered" if new else "mounted"
    if info.mounted_on and new:
        what = "registered and mounted"
    return _done(args, info, f"{what} {info.name} on grid {info.grid}: {info.fresh} of "
                             f"{info.spots} spots never exposed")


def _done(args: argparse.Namespace, info: Any, text: str) -> int:
    from expctl.cli.run import _print_json, console

    if args.json:
        _print_json(sample_dict(info))
    else:
        console().print(text, markup=False, highlight=False)
    return 0


def _show(infos: list[Any], args: argparse.Namespace, *, detailed: bool) -> int:
    from rich.table import Table

    from expctl.cli.run import _print_json, console

    if args.json:
        _print_json({"samples": [sample_dict(i, spots=detailed) for i in infos]}
                    if not detailed else sample_dict(infos[0], spots=True))
        return 0
    con = console()
    if not infos:
        con.print("no samples registered (`expctl sample new NAME` registers the one "
                  "mounted; a run registers one by itself if none is)", highlight=False)
        return 0
    if not detailed:
        table = Table(title=f"{len(infos)} sample{'s' if len(infos) != 1 else ''}")
        for col in ("sample", "grid", "mounted", "used", "left", "registered", "comment"):
            table.add_column(col, justify="right" if col in ("used", "left") else "left")
        for i in infos:
            table.add_row(i.name, i.grid, " ".join(f"bl{b}" for b in i.mounted_on) or "-",
                          str(i.used), "?" if i.fresh is None else str(i.fresh),
                          time.strftime("%Y-%m-%d %H:%M", time.localtime(i.created)), i.comment)
        con.print(table)
        return 0
    info = infos[0]
    where = ", ".join(f"bl{b}" for b in info.mounted_on) or "not mounted"
    con.print(f"{info.name}: grid {info.grid}, {where}; {info.used} spots used, "
              f"{'?' if info.fresh is None else info.fresh} never exposed"
              + (f" — {info.comment}" if info.comment else ""), markup=False, highlight=False)
    if info.records:
        table = Table()
        for col in ("spot", "state", "runs", "campaign", "step", "note"):
            table.add_column(col, justify="right" if col == "spot" else "left",
                             no_wrap=col in ("spot", "state", "campaign"))
        for r in info.records:
            runs = ", ".join(f"{n} {lab} ({o})" if o != "completed" else f"{n} {lab}"
                             for n, lab, o in r.runs)
            table.add_row(str(r.spot), r.state, runs, r.campaign, r.step, r.note)
        con.print(table)
    return 0


def _span(spots: list[int]) -> str:
    """``3, 7-9`` (runs of consecutive numbers as ranges)."""
    out: list[str] = []
    for s in sorted(spots):
        if out and out[-1].split("-")[-1] == str(s - 1):
            out[-1] = f"{out[-1].split('-')[0]}-{s}"
        else:
            out.append(str(s))
    return ", ".join(out)


COMMAND = Command("sample", "the sample registry: list, show, new, mount, mark, unmark",
                  _configure, _run)
