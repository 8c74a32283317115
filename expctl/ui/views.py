"""Rich views: the dry-run tree, validation findings and the where-all table.

rich is imported inside the functions so importing :mod:`expctl.ui` stays cheap.
Every text that comes from a file or a user (names, titles, labels, messages) goes
through :func:`~expctl.ui.report.markup_safe` or :func:`~expctl.ui.report.inert`:
shown, never interpreted as rich markup or as a terminal escape sequence.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from expctl.ui.report import (
    error_dicts,
    format_bytes,
    format_duration,
    inert,
    loop_levels,
    markup_safe,
    plain,
)

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["print_devices", "print_dry_run", "print_errors", "print_warnings"]

#: the fields of a result worth a line in the dry-run (peaks, run sums, run records)
_MAX_RESULT_FIELDS = ("center", "fwhm", "height", "roi0_photons", "photons_mean", "shots",
                      "run", "ok", "flags")


def _location(v: dict[str, Any]) -> str:
    parts = [str(v["file"] or "<input>")]
    if v["line"] is not None:
        parts.append(str(v["line"]))
        if v["column"] is not None:
            parts.append(str(v["column"]))
    return ":".join(parts)


def print_errors(console: Console, errors: list[Any], heading: str) -> None:
    """Every finding, one paragraph each, under a heading with the count.

    A single problem of the file named by ``heading`` is one ``error:`` line,
    like every other error the CLI prints.
    """
    items = error_dicts(errors)
    if len(items) == 1 and items[0]["file"] == heading:  # one paragraph, as the CLI's errors
        console.print(f"[bold red]error[/]: {markup_safe(_location(items[0]))}: "
                      f"{markup_safe(items[0]['message'])}", highlight=False, soft_wrap=True)
        return
    console.print(f"[bold red]{markup_safe(heading)}: {len(items)} problem"
                  f"{'s' if len(items) != 1 else ''}[/]", soft_wrap=True)
    for v in items:
        console.print(f"  [cyan]{markup_safe(_location(v))}[/]: {markup_safe(v['message'])}",
                      highlight=False, soft_wrap=True)


def _tree_rows(children: list[Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Depth-first (glyph prefix, estimate) pairs, drawn like ``tree``: ├── │ └──."""
    rows: list[tuple[str, Any]] = []
    for i, est in enumerate(children):
        last = i == len(children) - 1
        rows.append((prefix + ("└── " if last else "├── "), est))
        rows += _tree_rows(est.children, prefix + ("    " if last else "│   "))
    return rows


def print_dry_run(console: Console, dry: Any) -> None:
    """The procedure as a table-tree (loops collapsed with counts), totals, findings, results.

    Counts, runs/shots and durations have columns of their own, so on an 80-column
    terminal a number is never wrapped away from its unit; long titles are cut instead.
    """
    from rich.table import Table
    from rich.text import Text

    from expctl.ui.location import StepTracker

    loaded = dry.loaded
    console.print(f"[bold]{markup_safe(loaded.name)}[/] [dim]({markup_safe(loaded.path)}, "
                  f"profile {markup_safe(loaded.profile.name)})[/]")
    titles = StepTracker(params=dict(loaded.params))  # ${param} shown as its value
    rows = []
    for glyphs, est in _tree_rows(list(dry.tree.children)):
        node = est.node
        step = Text(glyphs)
        step.append(node.path, style="dim")
        step.append(f"  {inert(titles.expand(node.title, {}))}")
        per = f"{node.iterations / node.executions:g}" if node.iterations and node.executions \
            else ""
        runs = f"{node.runs:g} / {node.shots:g}" if node.runs else ""
        rows.append((step, per, runs, format_duration(est.seconds)))
    table = Table(box=None, pad_edge=False, show_header=True, header_style="bold underline")
    # one line per step: a title too long for the terminal ends in "…" (--json has it all);
    # the number columns keep their full width
    numbers = (("×", "magenta"), ("runs / shots", "green"), ("time", "yellow"))
    widths = [max([len(name)] + [len(r[k]) for r in rows])
              for k, (name, _) in enumerate(numbers, start=1)]
    room = console.width - sum(widths) - 2 * len(widths)  # one space either side of a column
    table.add_column("step", no_wrap=True, overflow="ellipsis", max_width=max(24, room))
    for (name, style), width in zip(numbers, widths, strict=True):
        table.add_column(name, justify="right", no_wrap=True, style=style, min_width=width)
    for row in rows:
        table.add_row(*row)
    console.print(table)
    if loaded.params:
        shown = ", ".join(f"{k} = {_short(v)}" for k, v in loaded.params.items())
        console.print(f"[bold]params[/]: {markup_safe(shown)}")
    console.print(
        f"[bold]estimate[/]: {format_duration(dry.total_s)} of beamline time, "
        f"{dry.runs} runs, {dry.shots} shots, about {format_bytes(dry.data_bytes)} of data")
    for lv in loop_levels(dry):
        indent = "  " * (lv["depth"] + 1)
        console.print(f"{indent}[dim]{lv['path']}[/] "
                      f"{markup_safe(titles.expand(lv['title'], {}))}: "
                      f"{lv['iterations']} iterations, {format_duration(lv['seconds'])} "
                      f"({format_duration(lv['per_iteration_s'])} each)", highlight=False)
    if dry.sampled:
        console.print("[dim]rehearsed the first iterations of each loop on the simulated "
                      "twin and extrapolated; run and shot counts are exact[/]")
    if dry.results:
        console.print("[bold]analysis feeds forward[/] (simulated data, last values; peaks by "
                      "the half-maximum estimate, the real run fits):")
        for name, value in dry.results.items():
            console.print(f"  {markup_safe(name)}: {markup_safe(_result_text(value))}",
                          highlight=False)
    problems = list(dry.violations) + ([dry.error] if dry.error is not None else [])
    if problems:
        print_errors(console, problems, "findings")
    else:
        console.print("[bold green]no limit or access problems found[/]")
    if getattr(dry, "warnings", None):
        print_errors(console, dry.warnings, "data-quality findings")


def _short(value: Any) -> str:
    from expctl.sequence.expr import describe_value

    return describe_value(value)


def _result_text(value: Any) -> str:
    data = plain(value)
    if isinstance(data, dict):
        keys = [k for k in _MAX_RESULT_FIELDS if k in data] or list(data)[:5]
        return ", ".join(f"{k} = {_fmt(data[k])}" for k in keys)
    return _fmt(data)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, list):
        return "[" + ", ".join(_fmt(x) for x in v[:6]) + (", …]" if len(v) > 6 else "]")
    return str(v)


def _limits_text(limits: str, units: str) -> str:
    """Limits without the unit the units column already shows (``-5 .. 5``, not ``-5 .. 5 mm``)."""
    return limits.replace(f" {units}", "") if units else limits


def print_devices(console: Console, table_rows: dict[str, dict[str, Any]]) -> None:
    """Where-all (``expctl devices``, the shell's ``wa``): value, units, limits, access.

    No box lines and no unit repeated in the limits, and only the limits column wraps,
    so the table stays readable on an 80-column operator terminal.
    """
    from rich.table import Table
    from rich.text import Text

    table = Table(title="devices", title_justify="left", title_style="bold", box=None,
                  header_style="bold underline", pad_edge=False)
    for col in ("device", "kind", "value", "units", "limits", "access"):
        table.add_column(col, justify="right" if col == "value" else "left",
                         no_wrap=col != "limits")
    for name, row in table_rows.items():
        value = row["value"]
        shown = f"{value:.6g}" if isinstance(value, float) else ("" if value is None
                                                                  else str(value))
        limits = _limits_text(row["limits"], row["units"])
        table.add_row(*(Text(inert(cell)) for cell in (name, row["kind"], shown, row["units"],
                                                       limits, row["access"])))
    console.print(table)


def print_warnings(console: Console, warnings: list[Any]) -> None:
    """What non-critical subscribers (plots, alignment log, displays) failed to do.

    Data taking went on without them; these lines are how the user hears of it.
    """
    for w in warnings:
        console.print(f"[yellow]warning[/]: {markup_safe(w.text)}", highlight=False,
                      soft_wrap=True)
