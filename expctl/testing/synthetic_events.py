"""Synthetic engine-event streams with a known pump response.

Reduction must be testable, benchmarkable and rehearsable without a beamline:
this module produces the events a DAQ-driven engine would publish for a
pump–probe campaign (reference and pumped runs at a list of delays), from a
small documented model, so reduction results can be compared with the truth.

Model per shot: probe pulse energy ~ Gamma(k=2) (a monochromatised SASE pulse
fluctuates strongly), I0 charge ∝ pulse energy, Bragg signal photons ~
Poisson(n̄ · E/Ē · (1 + ΔI/I(t))) with ΔI/I(t) from the one pump-response model
(:class:`expctl.pump_response.PumpResponse`, the simulator's too) at
t = nominal delay + Gaussian timing jitter σ.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from expctl.devices.protocols import RunRecord, ShotBlock
from expctl.engine.events import (
    EngineEvent,
    RunContext,
    RunStarted,
    RunStopped,
    ShotBlockTaken,
)
from expctl.pump_response import PumpResponse

__all__ = ["SyntheticBeam", "synthetic_campaign", "synthetic_run"]


#: the unit of each per-shot column of the synthetic stream
UNITS = {"tag": "", "event_time": "s", "lightStatus/xray": "", "lightStatus/laser": "",
         "pd_i0": "pC", "beam/pulse_energy": "mJ", "mpccd/ROI_0_sum": "photons",
         "mpccd/ROI_1_sum": "photons", "mpccd/photon_nPhot": "photons"}
#: the response of a synthetic campaign unless one is given
DEFAULT_RESPONSE = PumpResponse(amplitude=-0.3, t0_ps=0.0, tau_ps=2.0)


@dataclass(frozen=True, slots=True)
class SyntheticBeam:
    """Beam and detector parameters of the synthetic stream."""

    rate_hz: float = 30.0
    hightag: int = 202601
    i0_pc_per_mj: float = 400.0
    pulse_mj: float = 0.5
    gamma_k: float = 2.0
    photons: float = 2000.0
    beamline: int = 3
    epoch: float = 1_768_435_200.0


def synthetic_run(run: int, *, shots: int, label: str, laser: bool, delay: float,
                  start_tag: int, start_time: float, rng: np.random.Generator,
                  response: PumpResponse = DEFAULT_RESPONSE, jitter: float = 0.1,
                  beam: SyntheticBeam = SyntheticBeam(), block_size: int = 10_000,
                  context: RunContext | None = None) -> list[EngineEvent]:
    """Events of one run: RunStarted, its shot blocks, RunStopped (``jitter``: rms ps)."""
    ctx = context or RunContext(sequence="synthetic", label=label, scan={"delay": delay},
                                loop={"delay": delay}, params={"shots": shots},
                                units={"scan.delay": "ps"})
    tags = start_tag + 2 * np.arange(shots, dtype=np.int64)  # 30 Hz sees every second tag
    record = RunRecord(run=run, beamline=beam.beamline, hightag=beam.hightag,
                       start_tag=int(start_tag), end_tag=None, start_time=start_time,
                       stop_time=None, status=2, shots=0, label=label,
                       detectors=("mpccd",))
    events: list[EngineEvent] = [RunStarted(
        record=record, context=ctx, time=start_time - beam.epoch,
        snapshot={"theta": 11.4, "attenuator": 0.0 if laser else 200.0,
                  "pd_gain": "low" if laser else "high"},
        config={"mpccd": {"roi0": [500, 540, 240, 280], "threshold_adu": 76.0},
                "pedestal": "dark run"})]
    energy = rng.gamma(beam.gamma_k, beam.pulse_mj / beam.gamma_k, shots)
    i0 = energy * beam.i0_pc_per_mj * (1.0 + rng.normal(0.0, 0.01, shots))
    change = (response.per_shot(delay + rng.normal(0.0, jitter, shots)) if laser
              else np.zeros(shots))
    signal = rng.poisson(beam.photons * energy / beam.pulse_mj * (1.0 + change)).astype(float)
    times = start_time + np.arange(shots) / beam.rate_hz
    for lo in range(0, shots, block_size):
        hi = min(shots, lo + block_size)
        n = hi - lo
        data: dict[str, np.ndarray] = {
            "tag": tags[lo:hi], "event_time": times[lo:hi],
            "lightStatus/xray": np.ones(n, dtype=np.uint8),
            "lightStatus/laser": np.full(n, int(laser), dtype=np.uint8),
            "pd_i0": i0[lo:hi], "beam/pulse_energy": energy[lo:hi],
            "mpccd/ROI_0_sum": signal[lo:hi],
            "mpccd/ROI_1_sum": rng.poisson(20.0, n).astype(float),
            "mpccd/photon_nPhot": signal[lo:hi] + rng.poisson(20.0, n),
        }
        events.append(ShotBlockTaken(
            block=ShotBlock(run=run, data=data,
                            sums={"mpccd": np.full((8, 4), float(signal[lo:hi].sum()) / 32)},
                            units=UNITS),
            context=ctx, time=times[hi - 1] - beam.epoch))
    stop = start_time + shots / beam.rate_hz
    final = RunRecord(run=run, beamline=beam.beamline, hightag=beam.hightag,
                      start_tag=int(start_tag), end_tag=int(tags[-1]) if shots else None,
                      start_time=start_time, stop_time=stop, status=0, shots=shots,
                      label=label, detectors=("mpccd",))
    events.append(RunStopped(record=final, outcome="completed", time=stop - beam.epoch,
                             context=ctx))
    return events


def synthetic_campaign(delays: Sequence[float], *, spots_per_delay: int, reference_shots: int,
                       pumped_shots: int = 1, rng: np.random.Generator,
                       response: PumpResponse = DEFAULT_RESPONSE, jitter: float = 0.1,
                       beam: SyntheticBeam = SyntheticBeam(), first_run: int = 1,
                       ) -> Iterator[EngineEvent]:
    """The pumpprobe procedure's runs: per delay and spot a reference run, then a pumped run."""
    run, tag, t = first_run, 100_000_000, beam.epoch
    for delay in delays:
        for spot in range(spots_per_delay):
            for label, laser, shots in (("reference", False, reference_shots),
                                        ("pumped", True, pumped_shots)):
                ctx = RunContext(sequence="pumpprobe", sequence_file="sequences/pumpprobe.yaml",
                                 step_path=f"steps[0]/steps[1]/{label}", label=label,
                                 loop={"delay": delay, "spot": spot},
                                 params={"spots_per_delay": spots_per_delay},
                                 scan={"delay": float(delay)}, units={"scan.delay": "ps"},
                                 sample_spot={"grid": "sample", "index": run // 2})
                yield from synthetic_run(run, shots=shots, label=label, laser=laser,
                                         delay=float(delay), start_tag=tag, start_time=t,
                                         rng=rng, response=response, jitter=jitter,
                                         beam=beam, context=ctx)
                run += 1
                tag += 2 * shots + 60
                t += shots / beam.rate_hz + 5.0
