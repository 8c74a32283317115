"""Cross-calibration of the I0 monitor's gain ranges: measured from runs, applied by reduce.

A pump–probe reference and its pumped shot see beams of different strength, so
the I0 amplifier reads them on different gain ranges; each range has its own
gain error and offset, and a 1 % mismatch moves ``R_on / R_off`` by 1 % — enough
to shift a fitted time constant by ~15 %.  ``sequences/pd_calibration.yaml``
takes what this module needs:

* **dark runs** (X-rays off) on each range: the range's offset is the mean I0;
* **beam runs** on two ranges at a time under identical conditions (attenuator,
  theta, sample spot): a gain-independent transfer signal (the detector's ROI
  sum) is recorded with every shot, so ``k_r = Σ(I0 − o_r) / Σ signal`` per range
  and ``k_r / k_s`` is the ranges' relative gain.  Conditions sharing a range are
  chained, so every range is expressed against one reference range.

Applied to a run, ``I0' = (I0 − o_r) / G_r`` puts every shot on the reference
range's scale (``G_reference = 1``).  The range a run was taken on is the gain
device's value recorded at its start (``epicsOnce/<gain device>``).  Keep the
calibration signal well below full scale (≤ 25 %): the amplifier's compression
near full scale is not part of this linear model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from expctl.errors import DataError, UserError
from expctl.runlog.reader import read_run

__all__ = ["I0Calibration", "measure_i0_calibration", "recorded_setting"]

#: device values that must agree for two beam runs to count as one condition
CONDITION_DEVICES = ("attenuator", "theta", "sample_x", "sample_y")


def recorded_setting(path: Path, device: str) -> Any:
    """A device's value recorded at the start of the run (``epicsOnce/<device>``)."""
    from expctl.runlog.h5util import open_for_reading

    with open_for_reading(path) as f:
        node = f.get(f"epicsOnce/{device}")
        if node is None:
            return None
        value = node[()]
    if isinstance(value, bytes):
        return value.decode()
    return value.item() if isinstance(value, np.generic) else value


@dataclass(frozen=True)
class I0Calibration:
    """Per-range offsets and gains of an I0 monitor, relative to one reference range.

    Attributes:
        i0: the monitor's per-shot dataset (``pd_i0``).
        gain_device: the device whose recorded value names the range (``pd_gain``).
        reference: the range the gains are relative to.
        gain, gain_err: relative gain of each range and its standard error.
        offset, offset_err: offset of each range (I0 units) and its standard error.
        runs: the calibration runs.
    """

    i0: str
    gain_device: str
    reference: str
    gain: dict[str, float]
    gain_err: dict[str, float]
    offset: dict[str, float]
    offset_err: dict[str, float]
    runs: tuple[int, ...] = field(default_factory=tuple)

    def apply(self, i0: np.ndarray, gain_range: str) -> np.ndarray:
        """I0 readings of one range on the reference range's scale."""
        if gain_range not in self.gain or gain_range not in self.offset:
            raise DataError(
                f"the I0 calibration (runs {_span(self.runs)}) does not cover the "
                f"{self.gain_device} range {gain_range!r}",
                allowed=", ".join(sorted(set(self.gain) & set(self.offset))),
                hint="Take sequences/pd_calibration.yaml with that range included.")
        return (np.asarray(i0, dtype=np.float64) - self.offset[gain_range]) \
            / self.gain[gain_range]

    def applied(self, path: Path, columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``columns`` of the run in ``path`` with its I0 calibrated (other columns as given)."""
        if self.i0 not in columns:
            return columns
        gain_range = recorded_setting(path, self.gain_device)
        if gain_range is None:
            raise DataError(f"{Path(path).name} does not record {self.gain_device!r} "
                            f"(epicsOnce), so its I0 range is unknown")
        return {**columns, self.i0: self.apply(columns[self.i0], str(gain_range))}

    def as_dict(self) -> dict[str, Any]:
        return {"i0": self.i0, "gain_device": self.gain_device, "reference": self.reference,
                "gain": dict(self.gain), "gain_err": dict(self.gain_err),
                "offset": dict(self.offset), "offset_err": dict(self.offset_err),
                "runs": list(self.runs)}

    def summary(self) -> str:
        """One line per range: ``high: gain 1 (reference), offset 0.0009 ± 0.00001``."""
        lines = []
        for name in sorted(self.gain, key=lambda r: (r != self.reference, r)):
            g = "1 (reference)" if name == self.reference else \
                f"{self.gain[name]:.5f} ± {self.gain_err[name]:.5f}"
            lines.append(f"{name}: gain {g}, offset {self.offset.get(name, math.nan):.6g} ± "
                         f"{self.offset_err.get(name, math.nan):.2g}")
        return "; ".join(lines)


@dataclass
class _RunStats:
    run: int
    gain_range: str
    condition: tuple[Any, ...]
    dark: bool
    i0: np.ndarray
    signal: np.ndarray | None


def _load(path: Path, i0: str, signal: str, gain_device: str) -> _RunStats | None:
    data = read_run(path, (i0, signal, "lightStatus/xray"), required=(i0,),
                    attrs=("run",))
    if not data.columns or len(data.columns[i0]) == 0:
        return None
    gain_range = recorded_setting(path, gain_device)
    if gain_range is None:
        raise DataError(f"{Path(path).name} does not record {gain_device!r} (epicsOnce)")
    xray = data.columns.get("lightStatus/xray")
    dark = xray is not None and not np.any(xray)
    condition = tuple(recorded_setting(path, d) for d in CONDITION_DEVICES)
    return _RunStats(int(data.attrs.get("run", -1)), str(gain_range), condition, dark,
                     np.asarray(data.columns[i0], dtype=np.float64),
                     None if signal not in data.columns
                     else np.asarray(data.columns[signal], dtype=np.float64))


def measure_i0_calibration(paths: Sequence[Path], *, i0: str = "pd_i0",
                           signal: str = "mpccd/ROI_0_sum", gain_device: str = "pd_gain",
                           reference: str | None = None) -> I0Calibration:
    """Offsets and relative gains of the I0 ranges from dark and beam calibration runs.

    Args:
        paths: the calibration runs (e.g. those of ``sequences/pd_calibration.yaml``).
        i0: the monitor's dataset.
        signal: the gain-independent transfer signal recorded with every shot.
        gain_device: the device naming the range.
        reference: the range gains are relative to (default: that of the first beam run).

    Raises:
        UserError: a range without a dark run, beam runs that do not link every range to
            the reference, or no beam run at all.
    """
    stats = [s for s in (_load(Path(p), i0, signal, gain_device) for p in paths) if s]
    if not stats:
        raise UserError("no calibration run holds a shot", hint="select the runs of "
                        "sequences/pd_calibration.yaml, e.g. --i0-cal "
                        "\"sequence == 'pd_calibration'\"")
    offset, offset_err = {}, {}
    for s in (s for s in stats if s.dark):
        n = len(s.i0)
        offset[s.gain_range] = float(s.i0.mean())
        offset_err[s.gain_range] = float(s.i0.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    beam = [s for s in stats if not s.dark and s.signal is not None]
    if not beam:
        raise UserError("no beam run among the calibration runs (only darks)",
                        hint="the beam runs give the ranges' relative gains")
    missing = sorted({s.gain_range for s in beam} - set(offset))
    if missing:
        raise UserError(f"no dark run on the {gain_device} range(s) {', '.join(missing)}",
                        hint="a dark run (shutter closed) on each range gives its offset")
    # k_r per condition: I0 above offset per unit transfer signal
    ks: dict[tuple[Any, ...], dict[str, tuple[float, float]]] = {}
    for s in beam:
        if s.signal is None:
            continue
        q = s.i0 - offset[s.gain_range]
        sig = s.signal
        good = np.isfinite(q) & np.isfinite(sig) & (sig > 0)
        q, sig = q[good], sig[good]
        if len(q) < 2:
            continue
        k = float(q.sum() / sig.sum())
        rel = float(np.std(q / sig - k, ddof=1) / (k * math.sqrt(len(q))))
        ks.setdefault(s.condition, {})[s.gain_range] = (k, rel)
    ref = reference or beam[0].gain_range
    gain, rel_err = {ref: 1.0}, {ref: 0.0}
    changed = True
    while changed:  # chain conditions through the ranges they share
        changed = False
        for by_range in ks.values():
            known = [r for r in by_range if r in gain]
            if not known:
                continue
            base = known[0]
            kb, eb = by_range[base]
            for r, (k, e) in by_range.items():
                if r not in gain:
                    gain[r] = gain[base] * k / kb
                    rel_err[r] = math.sqrt(rel_err[base] ** 2 + e * e + eb * eb)
                    changed = True
    unlinked = sorted({s.gain_range for s in beam} - set(gain))
    if unlinked:
        raise UserError(f"the beam runs do not link the range(s) {', '.join(unlinked)} to "
                        f"{ref!r}", hint="measure two ranges under the same conditions "
                        "(attenuator, theta, spot) for every link")
    return I0Calibration(i0, gain_device, ref, gain,
                         {r: g * rel_err[r] for r, g in gain.items()}, offset, offset_err,
                         tuple(sorted(s.run for s in stats)))


def _span(runs: Sequence[int]) -> str:
    return f"{min(runs)}-{max(runs)}" if runs else "none"
