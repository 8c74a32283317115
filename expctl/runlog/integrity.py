"""``expctl check``: prove a data directory consistent, or say exactly what is not.

Read-only (works on archives nobody may write): every catalog row against its
file (present, readable, SHA-256, metadata), every run file against the
catalog (orphans, unfinished ``.partial`` files), runs left ``running``, campaign
journals, alignment-scan files and, when the caller can ask the facility, run
statuses the facility still reports as running.  Each finding says what to do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from expctl.errors import StorageError
from expctl.paths import DataDir, check_layout
from expctl.runlog.catalog import Catalog, CatalogRow, file_checksum
from expctl.runlog.lease import lease_holder

__all__ = ["CheckReport", "Finding", "check_data_dir"]

#: ``(beamline, run, status)`` of every run the facility knows, if it can be asked.
FacilityRuns = Callable[[Iterable[int]], Iterable[tuple[int, int, int]]]

_RECOVER = ("`expctl catalog recover` closes it now (the next `expctl run` or `expctl resume` "
            "does too)")
_REBUILD = "`expctl catalog rebuild` recreates the catalog from the run files"
#: Row columns that must agree with the run file's own attributes.
_COMPARED = ("beamline", "status", "outcome", "shots", "label", "step_path")


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing ``check`` found; ``problem`` findings make the directory inconsistent."""

    kind: str
    message: str
    remedy: str = ""
    run: int | None = None
    path: str | None = None
    problem: bool = True


@dataclass
class CheckReport:
    """Everything ``check`` looked at and found."""

    data_dir: Path
    runs: int = 0
    files_verified: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def consistent(self) -> bool:
        return not any(f.problem for f in self.findings)

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.problem]

    def add(self, kind: str, message: str, remedy: str = "", *, run: int | None = None,
            path: Path | str | None = None, problem: bool = True) -> None:
        self.findings.append(Finding(kind, message, remedy, run,
                                     None if path is None else str(path), problem))

    def as_dict(self) -> dict[str, Any]:
        return {"data_dir": str(self.data_dir), "consistent": self.consistent,
                "runs": self.runs, "files_verified": self.files_verified,
                "problems": len(self.problems),
                "findings": [asdict(f) for f in self.findings]}


def check_data_dir(data_dir: Path, facility_runs: FacilityRuns | None = None) -> CheckReport:
    """Check ``data_dir`` (see the module doc); never writes anything."""
    layout = DataDir(data_dir)
    report = CheckReport(layout.root)
    try:
        check_layout(layout.root)
    except StorageError as exc:
        report.add("layout", exc.message, exc.hint or "", path=exc.path)
        return report
    rows = _catalog_rows(layout, report)
    if rows is not None:
        report.runs = len(rows)
        for row in rows:
            _check_row(layout, row, report)
        _check_files(layout, {row.run for row in rows}, report)
        if facility_runs is not None:
            _check_facility(layout, rows, facility_runs, report)
    _check_journals(layout, report)
    return report


def _catalog_rows(layout: DataDir, report: CheckReport) -> list[CatalogRow] | None:
    """The catalog's rows (its alignment files checked on the way), None if unreadable."""
    if not layout.catalog.exists():
        if layout.run_files():
            report.add("catalog", f"there is no run catalog ({layout.catalog}) but there are "
                       "run files", _REBUILD + ".", path=layout.catalog)
            return None
        return []
    try:
        with Catalog(layout.root, readonly=True) as catalog:
            damaged = catalog.quick_check()
            rows = list(catalog.rows())
            scans = catalog.alignments()
    except StorageError as exc:
        report.add("catalog", exc.message, _REBUILD + ".", path=layout.catalog)
        return None
    if damaged:
        report.add("catalog", f"the catalog {layout.catalog} is damaged: {damaged}",
                   _REBUILD + ".", path=layout.catalog)
    for scan in scans:
        for key in ("file", "png"):
            if scan.get(key) and not (layout.root / scan[key]).exists():
                report.add("alignment", f"alignment scan {scan['id']}'s {key} {scan[key]} is "
                           "missing", "Restore it from a copy of the data directory.",
                           path=layout.root / scan[key])
    return rows


def _check_row(layout: DataDir, row: CatalogRow, report: CheckReport) -> None:
    run, values = row.run, row.values
    if values["status"] == 2:
        holder = lease_holder(layout, values["beamline"], run)
        if holder is not None:
            report.add("running", f"run {run} is being taken now ({holder})", run=run,
                       problem=False)
        else:
            report.add("unfinished", f"run {run} was left running by a session that stopped "
                       "without ending it", _RECOVER + ".", run=run)
        return
    name = values["file"]
    if not name:
        if values["shots"]:
            report.add("no-file", f"run {run} has {values['shots']} shots but no run file",
                       "Restore its file from a copy, or " + _REBUILD + ".", run=run)
        return
    path = layout.root / name
    if not path.exists():
        report.add("missing-file", f"run {run}'s file {name} is missing",
                   f"Restore it from a copy (its SHA-256 is {values['checksum']}), or "
                   f"{_REBUILD} (which drops the row).", run=run, path=path)
        return
    kind = layout.run_of(path)
    if kind is not None and kind[1] == "unreadable":
        report.add("set-aside", f"run {run} ({values['outcome']}) is kept as the unreadable "
                   f"file {name}", run=run, path=path,
                   problem=values["outcome"] in ("completed", "running"))
        return
    _check_file(path, row, report)


def _check_file(path: Path, row: CatalogRow, report: CheckReport) -> None:
    from expctl.runlog.reader import read_attributes

    run, values = row.run, row.values
    try:
        digest = file_checksum(path)
        attrs = read_attributes(path)
    except StorageError as exc:
        report.add("unreadable", f"run {run}'s file cannot be read: {exc.message}",
                   "Restore it from a copy (the catalog's SHA-256 identifies a good one).",
                   run=run, path=path)
        return
    report.files_verified += 1
    if values["checksum"] is None:
        report.add("no-checksum", f"run {run}'s file has no SHA-256 in the catalog, so it "
                   "cannot be verified", run=run, path=path, problem=False)
    elif digest != values["checksum"]:
        report.add("checksum", f"run {run}'s file {path.name} does not match the SHA-256 the "
                   "catalog recorded: it changed or was damaged since the run stopped",
                   "Restore it from a copy; keep this one for inspection.", run=run, path=path)
    differ = [f"{key}: catalog {values[key]!r}, file {attrs.get(key)!r}" for key in _COMPARED
              if key in attrs and _norm(attrs[key]) != _norm(values[key])]
    if int(attrs.get("run", run)) != run:
        differ.insert(0, f"run: catalog {run}, file {attrs.get('run')}")
    if differ:
        report.add("metadata", f"run {run}: catalog and file disagree ({'; '.join(differ)})",
                   _REBUILD + " (the files are the reference).", run=run, path=path)


def _norm(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _check_files(layout: DataDir, known: set[int], report: CheckReport) -> None:
    """Run files the catalog does not list, and creations that never finished."""
    for beamline, run, kind, path in layout.run_files():
        live = lease_holder(layout, beamline, run)
        if kind == "partial":
            if live is not None:
                continue
            report.add("partial", f"run {run}'s file was never finished ({path.name}: its "
                       "writer stopped while creating it)", _RECOVER + ".", run=run, path=path)
        elif run not in known and live is None:
            report.add("orphan", f"{path.relative_to(layout.root)} has no catalog row",
                       "`expctl catalog recover` registers it from its own metadata.",
                       run=run, path=path)


def _check_facility(layout: DataDir, rows: list[CatalogRow], facility_runs: FacilityRuns,
                    report: CheckReport) -> None:
    """Runs the facility still reports running although nothing is taking them."""
    logged = {row.run for row in rows}
    beamlines = sorted({int(row["beamline"]) for row in rows})
    try:
        known = list(facility_runs(beamlines))
    except StorageError as exc:
        report.add("facility", f"the facility's run table cannot be read: {exc.message}")
        return
    for beamline, run, status in known:
        if status == 2 and lease_holder(layout, beamline, run) is None:
            report.add("facility-running", f"the facility still reports run {run} of "
                       f"beamline {beamline} as running, but nothing is taking it",
                       "The next `expctl run` or `expctl resume` ends it.", run=run)
        elif run not in logged and status != 2:
            report.add("not-logged", f"the facility took run {run} of beamline {beamline}, "
                       "which expctl did not log (it failed at its start, or other software "
                       "took it)", run=run, problem=False)


def _check_journals(layout: DataDir, report: CheckReport) -> None:
    from expctl.engine.journal import journal_problems

    for exc in journal_problems(layout.root):
        report.add("journal", exc.message, exc.hint or "", path=exc.path)
