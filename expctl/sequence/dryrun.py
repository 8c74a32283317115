"""Dry-run: the checked sequence rehearsed on the beamline's simulated twin.

A full rehearsal of a 125-spot pump–probe campaign would simulate thousands of
detector exposures; the dry-run must answer in about a second.  So when the
outline is large, each loop is rehearsed for its first :data:`SAMPLE_ITERATIONS`
iterations only and every step's time is extrapolated by how often the static
outline says it runs (exact counts of runs and shots come from the outline
anyway).  Per-step times are averaged per written step, summed bottom-up into
per-loop durations.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from expctl.devices.protocols import Beamline
from expctl.errors import ExpctlError
from expctl.sequence.load import LoadedSequence
from expctl.sequence.outline import OutlineNode

__all__ = ["DryRun", "LEAF_BUDGET", "SAMPLE_ITERATIONS", "SaturationWatch", "StepEstimate",
           "dry_run", "written_path"]

#: leaf-step executions above which loops are sampled instead of rehearsed in full
LEAF_BUDGET = 400
#: iterations of each loop rehearsed when sampling (the first one: it carries the
#: one-off costs, so the extrapolation errs on the long side)
SAMPLE_ITERATIONS = 1
#: shots of each run a facility analysis (dark-subtracted sums) reads in a rehearsal:
#: enough for a representative value, few enough to draw the frames in ~0.1 s
FACILITY_SHOTS = 8
#: bytes per shot of small data besides the per-shot arrays the rehearsal measured
FRAME_BYTES = 1024 * 512 * 2

_ITER = re.compile(r"/[A-Za-z_][A-Za-z0-9_]*\[\d+\]")


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


def _build(node: OutlineNode, times: dict[str, list[float]]) -> StepEstimate:
    kids = [_build(c, times) for c in node.children]
    seen = times.get(node.path)
    mean = sum(seen) / len(seen) if seen else None
    if kids:
        seconds = sum(k.seconds for k in kids)
    else:
        seconds = (mean or 0.0) * node.executions
    return StepEstimate(node, seconds, mean, kids)


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
    times: dict[str, list[float]] = {}
    for st in found.per_step:
        times.setdefault(written_path(st.path), []).append(st.seconds)
    tree = _build(report.outline, times)
    frames = sum(n.frames for n in report.outline.children)
    shots_seen = max(found.shots, 1)
    per_shot = found.data_bytes / shots_seen if found.shots else 0.0
    data = int(per_shot * report.shots + frames * FRAME_BYTES)
    return DryRun(loaded, tree, tree.seconds, report.runs, report.shots, data,
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
