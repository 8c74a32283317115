"""Rich views of ``expctl check`` and ``expctl catalog rebuild``: findings with their remedies."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from expctl.ui.report import markup_safe

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["print_check_report", "print_rebuild_report"]


def print_check_report(console: Console, report: Any) -> None:
    """One line per finding (problems first, each with what to do), then the verdict."""
    findings = sorted(report.findings, key=lambda f: (not f.problem, f.run or 0))
    for f in findings:
        mark = "[bold red]problem[/]" if f.problem else "[dim]note[/]"
        console.print(f"{mark}: {markup_safe(f.message)}", highlight=False, soft_wrap=True)
        if f.remedy:
            console.print(f"  [cyan]→[/] {markup_safe(f.remedy)}", highlight=False,
                          soft_wrap=True)
    n = len(report.problems)
    scope = (f"{report.runs} run{'s' if report.runs != 1 else ''} in the catalog, "
             f"{report.files_verified} file{'s' if report.files_verified != 1 else ''} "
             "verified (SHA-256 and metadata)")
    where = markup_safe(report.data_dir)
    if n == 0:
        console.print(f"[bold green]consistent[/]: {where}: {scope}", highlight=False,
                      soft_wrap=True)
    else:
        console.print(f"[bold red]not consistent[/]: {where}: {n} problem"
                      f"{'s' if n != 1 else ''}; {scope}", highlight=False, soft_wrap=True)


def print_rebuild_report(console: Console, report: Any) -> None:
    """What the rebuilt catalog holds and where the old one was kept."""
    runs, scans = report.runs, report.scans
    console.print(f"[bold green]rebuilt[/] the catalog: {len(runs)} run"
                  f"{'s' if len(runs) != 1 else ''}{_span(runs)}, {len(scans)} alignment "
                  f"scan{'s' if len(scans) != 1 else ''}", highlight=False, soft_wrap=True)
    if report.old_catalog is not None:
        had = "" if report.old_rows is None else f" ({report.old_rows} rows)"
        console.print(f"the old catalog{had} is kept as {markup_safe(report.old_catalog)}",
                      highlight=False, soft_wrap=True)
    if report.lost_rows:
        console.print(f"[yellow]not in the new catalog[/] (rows without a run file): runs "
                      f"{', '.join(map(str, report.lost_rows))}", highlight=False,
                      soft_wrap=True)
    for problem in report.problems:
        console.print(f"[yellow]note[/]: {markup_safe(problem)}", highlight=False,
                      soft_wrap=True)


def _span(runs: list[int]) -> str:
    if not runs:
        return ""
    return f" ({runs[0]}–{runs[-1]})" if len(runs) > 1 else f" ({runs[0]})"
