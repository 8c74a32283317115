"""The outline of a sequence: every written step with what it amounts to over the whole run.

The checker fills it while it unrolls the loops (executions, runs, shots,
iterations); the dry-run adds times to it and the progress display follows it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from expctl.sequence.model import Step

__all__ = ["OutlineNode"]


@dataclass
class OutlineNode:
    """One written step with what it will amount to over the whole sequence."""

    step: Step
    title: str
    executions: float = 0.0
    own_runs: float = 0.0
    own_shots: float = 0.0
    #: shots of this step's own runs that save full detector frames
    own_frames: float = 0.0
    iterations: float = 0.0
    children: list[OutlineNode] = field(default_factory=list)
    path: str = ""

    @property
    def runs(self) -> float:
        """Runs taken by this step and everything inside it, over the whole sequence."""
        return self.own_runs + sum(c.runs for c in self.children)

    @property
    def shots(self) -> float:
        return self.own_shots + sum(c.shots for c in self.children)

    @property
    def frames(self) -> float:
        """Shots saving full frames, this step and everything inside it."""
        return self.own_frames + sum(c.frames for c in self.children)

    def child(self, index: int, step: Step, title: str) -> OutlineNode:
        while len(self.children) <= index:
            self.children.append(OutlineNode(step, title))
        node = self.children[index]
        if node.step is not step and not node.path:
            node.step, node.title = step, title
        node.path = f"{self.path}/{index + 1}" if self.path else str(index + 1)
        return node
