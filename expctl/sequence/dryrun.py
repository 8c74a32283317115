"""Dry-run: the checked sequence rehearsed on the beamline's simulated twin.

A full rehearsal of a 125-spot pump–probe campaign would simulate thousands of
detector exposures; the dry-run must answer in about a second, and ``expctl run``
pays for it before anything moves.  So unless the outline is small, each loop is
rehearsed for its first :data:`SAMPLE_ITERATIONS` iterations only and extrapolated
(exact counts of runs and shots come from the outline anyway; every literal loop value
was checked against the limits before).  The first iteration of a loop carries
one-off costs (the first long moves, a switch that later stays put), so it counts
once and the last one rehearsed stands for each iteration not rehearsed — at every
level of nesting, from the innermost loop out (:func:`extrapolate`).  A rehearsal of the first
iteration only would carry its one-off costs into every iteration.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from expctl.devices.protocols import Beamline
from expctl.errors import ExpctlError
from expctl.sequence.load import LoadedSequence
from expctl.sequence.outline import OutlineNode

__all__ = ["DryRun", "LEAF_BUDGET", "SAMPLE_ITERATIONS", "SaturationWatch", "StepEstimate",
           "dry_run", "written_path"]

#: leaf-step executions above which loops are sampled instead of rehearsed in full: small
#: sequences get an exact estimate; anything longer a sampled one, within 2 % of the full
#: rehearsal (a test) for a fraction of its time — the issue-16 campaign (275 leaf steps)
#: rehearses in ~0.05 s instead of ~0.3 s (ADR 18)
LEAF_BUDGET = 40
#: iterations of each loop rehearsed when sampling: the first (with its one-off costs,
#: counted once) and one that stands for the rest
SAMPLE_ITERATIONS = 2
#: shots of each run a facility analysis (dark-subtracted sums) reads in a rehearsal:
#: enough for a representative value, few enough to draw the frames in ~0.1 s
FACILITY_SHOTS = 8
#: bytes per shot of small data besides the per-shot arrays the rehearsal measured
FRAME_BYTES = 1024 * 512 * 2

_ITER = re.compile(r"/[A-Za-z_][A-Za-z0-9_]*\[\d+\]")
_ITERATION = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\[(\d+)\]")


def written_path(path: str) -> str:
    """``1/delay[3]/2/repeat[4]/6`` -> ``1/2/6``: the written step a run-time path belongs to."""
    return _ITER.sub("", path).replace("/then", "/1").replace("/else", "/2")


@dataclass
class StepEstimate:
    """One written step: how often it runs and how long that takes in all."""

    node: OutlineNode
    seconds: float
    mean_seconds: float | None
    children: list[StepEstimate] = field(default_factory=list)


@dataclass
class DryRun:
    """What a dry-run shows: the tree with times, totals, findings and feed-forward values."""

    loaded: LoadedSequence
    tree: StepEstimate
    total_s: float
    runs: int
    shots: int
    data_bytes: int
    violations: list[ExpctlError]
    results: dict[str, Any]
    sampled: bool
    rehearsed_s: float
    error: ExpctlError | None = None
    #: findings that never block: the checker's warnings, then data quality (a saturated
    #: detector)
    warnings: list[ExpctlError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations and self.error is None and self.loaded.ok


def _leaves(node: OutlineNode) -> float:
    if not node.children:
        return node.executions
    return sum(_leaves(c) for c in node.children)


def _parent(path: str, seen: Mapping[str, float]) -> str:
    """The step a rehearsed step ran in: the longest rehearsed prefix (``""``: top level;
    ``5/then/1`` ran in ``5``)."""
    cut = path.rfind("/")
    while cut > 0:
        if path[:cut] in seen:
            return path[:cut]
        cut = path.rfind("/", 0, cut)
    return ""


def _iteration(path: str) -> int | None:
    """``2/delay[3]`` -> 3: the index of a loop-iteration step (None for other steps)."""
    m = _ITERATION.fullmatch(path[path.rfind("/") + 1:])
    return int(m.group(1)) if m else None


def extrapolate(seconds: Mapping[str, float], iterations: Callable[[str], int]
                ) -> dict[str, float]:
    """Each rehearsed step's share of the whole sequence's duration, by run-time path.

    A loop of ``n`` iterations of which the first ``k`` were rehearsed takes its
    rehearsed time plus ``n - k`` times the extrapolated time of iteration ``k - 1``;
    every step inside that iteration has its share multiplied accordingly (and so
    on inwards).  Steps not inside a truncated loop keep their rehearsed time.

    Args:
        seconds: rehearsed seconds of every step (``2/delay[1]/2/spot[0]/5``), each
            step's including those of the steps it ran.
        iterations: how many iterations the loop step at a run-time path has in the
            real sequence.

    Returns:
        run-time path -> seconds the steps it stands for take in the whole sequence.
    """
    children: dict[str, list[str]] = {}
    for path in seconds:
        children.setdefault(_parent(path, seconds), []).append(path)
    #: loop step -> (its last rehearsed iteration, how many more times that one counts)
    repeats: dict[str, tuple[str, int]] = {}
    for path, kids in children.items():
        rehearsed = sorted((i, k) for k in kids if (i := _iteration(k)) is not None)
        if path and rehearsed:
            repeats[path] = (rehearsed[-1][1], max(iterations(path) - len(rehearsed), 0))
    full: dict[str, float] = {}  # extrapolated seconds of one instance of a step

    def instance(path: str) -> float:
        kids = children.get(path, [])
        total = seconds[path] + sum(instance(k) - seconds[k] for k in kids)
        if path in repeats:
            last, more = repeats[path]
            total += more * full[last]
        full[path] = total
        return total

    share: dict[str, float] = {}

    def spread(path: str, weight: float) -> None:
        share[path] = weight * full[path]
        last, more = repeats.get(path, ("", 0))
        for k in children.get(path, []):
            spread(k, weight * (1 + more) if k == last else weight)

    for top in children.get("", []):
        instance(top)
        spread(top, 1.0)
    return share


def _build(node: OutlineNode, shares: dict[str, float]) -> StepEstimate:
    kids = [_build(c, shares) for c in node.children]
    got = shares.get(node.path)
    seconds = got if got is not None else sum((k.seconds for k in kids), 0.0)
    mean = seconds / node.executions if got is not None and node.executions else None
    return StepEstimate(node, seconds, mean, kids)


def _loop_sizes(outline: OutlineNode) -> Callable[[str], int]:
    """Iterations of the loop step at a run-time path, per the outline (0 when the outline
    does not know the step: then only the rehearsed iterations count)."""
    nodes = {n.path: n for n in _walk(outline)}

    def size(path: str) -> int:
        node = nodes.get(written_path(path))
        if node is None or not node.executions:
            return 0
        return round(node.iterations / node.executions)

    return size


def dry_run(loaded: LoadedSequence, beamline: Beamline,
            estimator: Callable[..., Any] | None = None) -> DryRun:
    """Rehearse ``loaded`` on ``beamline``'s twin and extrapolate to the whole sequence.

    Args:
        loaded: a sequence without errors (see :func:`~expctl.sequence.load.load_sequence`).
        beamline: the connected beamline (only its ``estimator_copy()`` is used).
        estimator: the engine's ``estimate`` function (injected in tests).
    """
    from expctl.engine.estimate import estimate as engine_estimate
    from expctl.sequence.compile import compile_plan

    loaded.raise_errors()
    report = loaded.report
    doc = loaded._doc()
    if report is None:
        raise ExpctlError("the sequence was not checked")
    sample = SAMPLE_ITERATIONS if _leaves(report.outline) > LEAF_BUDGET else None
    factory = compile_plan(doc, loaded.profile, loaded.overrides, access=loaded.access,
                           sample=sample, peak_method="cen",  # the numba fit: ~1 s to load
                           max_shots=FACILITY_SHOTS, verbs=loaded.verbs)
    saturation = SaturationWatch()
    found = (estimator or engine_estimate)(factory, beamline,
                                           access=loaded.access,
                                           safe_state=loaded.safe_actions(),
                                           subscribers=[saturation])
    rehearsed: dict[str, float] = {}
    for st in found.per_step:  # (a step retried runs twice under one path)
        rehearsed[st.path] = rehearsed.get(st.path, 0.0) + st.seconds
    shares = extrapolate(rehearsed, _loop_sizes(report.outline))
    by_step: dict[str, float] = {}
    for path, seconds in shares.items():
        if _iteration(path) is None:  # an iteration is its loop step's, not a step of its own
            written = written_path(path)
            by_step[written] = by_step.get(written, 0.0) + seconds
    tree = _build(report.outline, by_step)
    outside = found.total_s - sum(rehearsed[p] for p in rehearsed if "/" not in p)
    frames = sum(n.frames for n in report.outline.children)
    shots_seen = max(found.shots, 1)
    per_shot = found.data_bytes / shots_seen if found.shots else 0.0
    data = int(per_shot * report.shots + frames * FRAME_BYTES)
    return DryRun(loaded, tree, tree.seconds + max(outside, 0.0), report.runs, report.shots, data,
                  list(found.violations), dict(found.results), sample is not None or
                  report.sampled, found.total_s, found.error,
                  list(report.warnings) + saturation.findings(report.outline))


#: fraction of a step's rehearsed shots with saturated detector pixels that is reported
SATURATION_FRACTION = 0.02


class SaturationWatch:
    """Counts, per run step and detector, rehearsed shots whose ROI had saturated pixels.

    Detectors report ``<det>/ROI_0_nsat`` (pixels at full scale) per shot; a run whose
    ROI sums saturate records too little signal, so the dry-run says which step would
    need more attenuation before any beamtime is spent on it.
    """

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str, str], list[int]] = {}

    def __call__(self, event: Any) -> None:
        from expctl.engine.events import ShotBlockTaken

        if not isinstance(event, ShotBlockTaken):
            return
        ctx = event.context
        for key, values in event.block.data.items():
            if key.endswith("/ROI_0_nsat"):
                det = key[: -len("/ROI_0_nsat")]
                got = self.counts.setdefault((written_path(ctx.step_path), ctx.label, det), [0, 0])
                got[0] += int((values > 0).sum())
                got[1] += len(values)

    def findings(self, outline: OutlineNode) -> list[ExpctlError]:
        """One finding per step and detector that saturated in the rehearsal."""
        nodes = {n.path: n for n in _walk(outline)}
        out: list[ExpctlError] = []
        for (path, label, det), (hit, total) in self.counts.items():
            if not total or hit / total < SATURATION_FRACTION:
                continue
            node = nodes.get(path)
            loc = getattr(node.step, "loc", None) if node is not None else None
            out.append(ExpctlError(
                f"{det} saturates in run {label!r} (step {path}): {hit} of {total} rehearsed "
                f"shots have pixels at full scale in ROI 0, so their ROI sums are too low",
                location=loc, device=det,
                hint="Attenuate more before this run (a thicker attenuator), or accept the "
                     "loss and filter the shots by <det>/ROI_0_nsat == 0."))
        return out


def _walk(node: OutlineNode) -> list[OutlineNode]:
    return [node] + [n for c in node.children for n in _walk(c)]
