"""The pump-response fit: time zero, amplitude and recovery time of ΔI/I against delay.

**Model.** A pumped shot changes the Bragg intensity by ``A·H(t−t0)·exp(−(t−t0)/τ)``
at its actual delay ``t`` = nominal delay + timing error.  Averaged over Gaussian
jitter of rms σ this is an exponentially modified Gaussian of the nominal delay
(:func:`emg_response`); ``--baseline`` adds a constant β that absorbs on/off
calibration offsets (pumped and reference shots use different attenuators and
monitor gains).

**Likelihood** (:mod:`expctl.runlog.likelihood`).  Each pumped shot is compared
with its bin's reference level; its variance holds photon/normalisation noise
of a fitted relative size κ, the scatter the jitter causes near time zero, the
error of the reference level shared by the bin's shots, and a fitted relative
spread η of the response itself (pump fluence jitter and the like).  κ is
fitted, so a bin with one pumped shot counts as much as its I0 says; η is
fitted, so a response that varies from shot to shot widens A's and τ's errors.

**The jitter σ** is known when given or measured (a timing tool's per-shot
arrival times); otherwise it is fitted under the documented prior
:data:`JITTER_PRIOR` — log-normal, median 50 fs, ×/÷ 10 at one standard
deviation, spanning two-colour (fs) to optical-laser (≈ 300 fs) jitter — so an
unresolved σ widens the error of t0 instead of silently fixing it.
:attr:`PumpFitResult.sigma_source` records which.

**Errors** are the inverse Hessian of −log(likelihood × prior) at its maximum
(κ, σ and β marginalised), NaN where the curvature is singular, with η
integrated out numerically (:mod:`expctl.runlog.marginal`).  A number
counts as a result only when the data constrain it: :func:`diagnose` names
every parameter that is not, why, and what to measure.

**A bracket is a measurement** when the edge is sharper than the delay step:
if the jitter (known, or as fitted) is below half the step around time zero and
the shots do not locate t0 better than "somewhere in the step" but do exclude
the neighbouring steps (:data:`BRACKET_MIN`), t0 is reported as the step's
midpoint ± step/√12 (uniform over the step), flagged ``bracketed``; the amplitude, defined
at t0, is carried to the midpoint with that uncertainty added (ADR 0008).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from expctl.analysis.lsq import covariance, hessian, levenberg_marquardt, nelder_mead
from expctl.runlog.likelihood import (
    PumpedShots,
    PumpLikelihood,
    PumpParams,
    emg_response,
    jitter_variance,
)
from expctl.runlog.marginal import marginal_covariance

__all__ = ["JITTER_PRIOR", "Jitter", "PumpFitResult", "PumpedShots", "diagnose",
           "emg_response", "fit_pump_response", "jitter_variance"]

#: Prior of a fitted jitter: (median in ps, multiplicative one-sigma width).
JITTER_PRIOR = (0.05, 10.0)
#: A jitter asked for counts as resolved when the data fix log σ to within this (one sigma).
RESOLVED_LOG_SIGMA = 0.5
#: Change of −2 log L below which a restart counts as converged (errors need ~1).
CONVERGED = 1e-3
#: −2 Δlog L by which the response must beat "no response" (χ², 3 dof, 1 % level).
RESPONSE_MIN = 11.3
#: −2 Δlog L by which moving the edge into a neighbouring delay step must be worse for
#: the data to bracket t0 (about 2σ on each side).
BRACKET_MIN = 4.0
#: Start value of the response noise η (the relative shot-to-shot spread of the change).
RESPONSE_NOISE_START = 0.05


@dataclass(frozen=True, slots=True)
class Jitter:
    """How the fit treats the timing jitter σ.

    Args:
        value: σ when known (fixed in the fit); None fits it under ``prior``.
        source: where a known σ came from ("given", "timing tool tt/… rms of 512 shots").
        prior: (median, one-sigma factor) of the log-normal prior of a fitted σ.
        of_interest: σ is a result the user asked for (``--fit-jitter``), so an
            unresolved σ makes the fit incomplete; otherwise it is a nuisance.
        prior_source: whose prior it is: "default" (:data:`JITTER_PRIOR`) or "given".
    """

    value: float | None = None
    source: str = "fitted"
    prior: tuple[float, float] = JITTER_PRIOR
    of_interest: bool = False
    prior_source: str = "default"

    def describe(self) -> str:
        if self.value is not None:
            return f"{self.source}: {self.value:g}"
        median, factor = self.prior
        origin = "" if self.prior_source == "default" else f" ({self.prior_source})"
        return f"fitted, log-normal prior{origin} median {median:g} ×/÷ {factor:g}"


@dataclass(frozen=True, slots=True)
class PumpFitResult:
    """Fitted pump response; errors are one standard deviation (NaN if undetermined).

    ``undetermined`` maps each parameter the data do not constrain to a
    sentence saying why and what to measure; the result is complete only when
    it is empty.  ``chi2``/``dof`` compare the delay-binned means with the
    model under the fitted noise (a check of the model's shape); ``response`` is
    −2 Δlog L of the fit over no response at all (A = 0); ``noise`` is
    κ, the relative scatter of a pumped shot at mean I0; ``response_noise`` η,
    the relative shot-to-shot spread of the change itself (0 when the response
    is the same in every shot); ``bin_errors`` the error of each bin's ΔI/I under
    that noise model.
    """

    t0: float
    t0_err: float
    amplitude: float
    amplitude_err: float
    tau: float
    tau_err: float
    sigma: float
    sigma_err: float
    sigma_fitted: bool
    sigma_source: str
    baseline: float
    baseline_err: float
    baseline_fitted: bool
    noise: float
    response_noise: float
    response_noise_err: float
    chi2: float
    dof: int
    response: float
    n_shots: int
    n_delays: int
    converged: bool
    undetermined: Mapping[str, str] = field(default_factory=dict)
    bin_errors: np.ndarray = field(default_factory=lambda: np.zeros(0))
    units: str = "ps"
    #: t0 is the midpoint of the delays around a sharp edge (module docstring)
    bracketed: bool = False
    t0_bracket: tuple[float, float] | None = None

    @property
    def reduced_chi2(self) -> float:
        return self.chi2 / self.dof if self.dof > 0 else math.nan

    @property
    def complete(self) -> bool:
        """Every fitted parameter is constrained by the data."""
        return not self.undetermined

    def curve(self, t: np.ndarray) -> np.ndarray:
        """The fitted model at ``t``."""
        return emg_response(t, self.t0, self.amplitude, self.tau, self.sigma) + self.baseline

    def as_dict(self) -> dict[str, Any]:
        return {
            "t0": self.t0, "t0_err": self.t0_err, "amplitude": self.amplitude,
            "amplitude_err": self.amplitude_err, "tau": self.tau, "tau_err": self.tau_err,
            "sigma": self.sigma, "sigma_err": self.sigma_err, "sigma_fitted": self.sigma_fitted,
            "sigma_source": self.sigma_source, "baseline": self.baseline,
            "baseline_err": self.baseline_err, "baseline_fitted": self.baseline_fitted,
            "noise": self.noise, "response_noise": self.response_noise,
            "response_noise_err": self.response_noise_err, "chi2": self.chi2, "dof": self.dof,
            "response": self.response,
            "reduced_chi2": self.reduced_chi2, "n_shots": self.n_shots,
            "n_delays": self.n_delays, "converged": self.converged,
            "complete": self.complete, "undetermined": dict(self.undetermined),
            "bracketed": self.bracketed,
            "t0_bracket": list(self.t0_bracket) if self.t0_bracket else None,
            "units": self.units,
        }


def fit_pump_response(shots: PumpedShots, *, jitter: Jitter = Jitter(), baseline: bool = False,
                      units: str = "ps") -> PumpFitResult:
    """Maximum-posterior fit of the pump response to single pumped shots (module docstring).

    Args:
        shots: the pumped shots, each against its bin's reference level.
        jitter: a known σ or how to fit it.
        baseline: fit a constant offset β of ΔI/I too.
        units: time unit of the delays, recorded in the result.
    """
    like = PumpLikelihood(shots, sigma=jitter.value, prior=jitter.prior, baseline=baseline)
    names = like.names
    if shots.n_delays < len(names) + 2:
        return _too_few(shots, like, jitter, units)
    q, value = _maximise(like, _start(like, shots))
    converged = False
    for _ in range(3):  # restart from the best point until a restart no longer helps
        q_again, value_again = nelder_mead(like.nll, q, like.steps(q) * 10.0, tol=1e-7)
        if value_again < value:
            q, value, converged = q_again, value_again, value - value_again <= CONVERGED
        else:
            converged = True
        if converged:
            break
    # Laplace errors first; η is integrated out (slower) only for the result reported
    p, err = like.natural(q, covariance(0.5 * hessian(like.nll, q, like.steps(q))))
    chi2, dof = like.binned_chi2(q)
    bin_errors = like.bin_errors(q)
    response = _null_nll(like, q) - value
    result = PumpFitResult(
        t0=p["t0"], t0_err=err["t0"], amplitude=p["amplitude"],
        amplitude_err=err["amplitude"], tau=p["tau"], tau_err=err["tau"], sigma=p["sigma"],
        sigma_err=err["sigma"], sigma_fitted=jitter.value is None,
        sigma_source=jitter.describe(), baseline=p["baseline"], baseline_err=err["baseline"],
        baseline_fitted=baseline, noise=p["noise"], response_noise=p["response_noise"],
        response_noise_err=err["response_noise"], chi2=chi2, dof=dof, response=response,
        n_shots=len(shots.delay), n_delays=shots.n_delays, converged=converged,
        bin_errors=bin_errors, units=units)
    result = _bracket_t0(result, shots.distinct_delays(), like, q)
    if not result.bracketed and response >= RESPONSE_MIN:  # (no response: η means nothing)
        p, err = like.natural(q, marginal_covariance(like, q))
        result = replace(result, t0_err=err["t0"], amplitude_err=err["amplitude"],
                         tau_err=err["tau"], sigma_err=err["sigma"],
                         baseline_err=err["baseline"],
                         response_noise_err=err["response_noise"])
    return _with_diagnosis(result, shots, jitter)


def _bracket_t0(fit: PumpFitResult, delays: np.ndarray, like: PumpLikelihood,
                q: np.ndarray) -> PumpFitResult:
    """``fit`` with t0 as the bracket around an edge sharper than the delay step.

    Where the jitter (known, or as fitted) is below half the step between the
    delays around t0, the likelihood is flat across that step and its curvature
    says nothing: t0 is the step's midpoint ± step/√12 (uniform over the step),
    provided the data show the edge is in that step (:func:`_in_gap`).
    A, τ and κ get their errors with t0 held at the midpoint, plus half the
    difference of A (carried to the midpoint) and τ refitted with t0 held one
    standard deviation either side (t0 marginalised over the step); A also the
    spread of ``exp(−Δt0/τ)`` over the step (the change at t0, not at the
    midpoint).  Partial responses at a delay within 2σ of the edge locate it
    better than the bracket: then the fit is kept as it is.
    """
    t0 = fit.t0
    if not (fit.response >= RESPONSE_MIN and float(delays[0]) <= t0 < float(delays[-1])):
        return fit
    before = float(delays[delays <= t0].max())
    after = float(delays[delays > t0].min())
    gap = after - before
    width = gap / math.sqrt(12.0)  # the sd of a uniform spread over the gap
    if not fit.sigma < 0.5 * gap:
        return fit
    near = float(np.min(np.abs(delays - t0))) <= 2.0 * fit.sigma
    if near and fit.t0_err < width:
        return fit
    if not _in_gap(like, q, delays, before, after):
        return fit
    mid = 0.5 * (before + after)
    at_mid = q.copy()
    at_mid[0] = mid
    at_mid[1] = fit.amplitude * math.exp((t0 - mid) / fit.tau)  # A is the change at t0
    at_mid, _ = _held_fit(like, at_mid, mid)
    p, err = like.natural(at_mid, marginal_covariance(like, at_mid, held=(0,)))
    # t0 is anywhere in the step: A (carried to the midpoint) and τ as refitted with t0
    # held one standard deviation either side; half their difference adds in quadrature
    spread = []
    for edge in (mid - width, mid + width):
        held, _ = _held_fit(like, at_mid, edge)
        _, amp, tau, *_ = like.unpack(held)
        spread.append((amp * math.exp((edge - mid) / tau), tau))
    carried = abs(p["amplitude"]) * width / p["tau"]  # the change at t0 vs at the midpoint
    amp_err = float(np.linalg.norm([err["amplitude"], 0.5 * (spread[1][0] - spread[0][0]),
                                    carried]))
    tau_err = math.hypot(err["tau"], 0.5 * (spread[1][1] - spread[0][1]))
    return replace(fit, t0=mid, t0_err=width, amplitude=p["amplitude"], amplitude_err=amp_err,
                   tau=p["tau"], tau_err=tau_err, bracketed=True, t0_bracket=(before, after),
                   response_noise=p["response_noise"], response_noise_err=err["response_noise"])


def _in_gap(like: PumpLikelihood, q: np.ndarray, delays: np.ndarray, before: float,
            after: float) -> bool:
    """Whether the data put the edge between ``before`` and ``after``: moving t0 into the
    neighbouring step on either side (A, τ, σ, κ refitted) costs −2Δlog L ≥
    :data:`BRACKET_MIN` each (beyond the scan: half a step out)."""
    gap = after - before
    earlier = delays[delays < before]
    later = delays[delays > after]
    sides = (0.5 * (before + float(earlier.max())) if len(earlier) else before - 0.5 * gap,
             0.5 * (after + float(later.min())) if len(later) else after + 0.5 * gap)
    best = like.nll(q)
    return all(_held_fit(like, q, t0)[1] - best >= BRACKET_MIN for t0 in sides)


def _held_fit(like: PumpLikelihood, q: np.ndarray, t0: float) -> tuple[np.ndarray, float]:
    """The best parameters and ``nll`` with t0 held at ``t0`` (the rest refitted from ``q``,
    and from ``q`` without response noise: moving t0 can move η's best value to the other
    side of a ridge)."""
    def held(rest: np.ndarray) -> float:
        return like.nll(np.concatenate([[t0], rest]))

    calm = q.copy()
    calm[like.index["response_noise"]] = 0.0
    rest, value = min((nelder_mead(held, start[1:].copy(), like.steps(start)[1:] * 50.0,
                                   tol=1e-5) for start in (q, calm)), key=lambda r: r[1])
    return np.concatenate([[t0], rest]), value


def _with_diagnosis(result: PumpFitResult, shots: PumpedShots, jitter: Jitter) -> PumpFitResult:
    return replace(result, undetermined=diagnose(result, shots.distinct_delays(), jitter))


def _too_few(shots: PumpedShots, like: PumpLikelihood, jitter: Jitter,
             units: str) -> PumpFitResult:
    nan = math.nan
    k = len(like.names)
    why = (f"only {shots.n_delays} delays have pumped shots; fitting {k} parameters "
           f"({', '.join(like.names)}) needs at least {k + 2}: measure more delays")
    return PumpFitResult(
        t0=nan, t0_err=nan, amplitude=nan, amplitude_err=nan, tau=nan, tau_err=nan,
        sigma=jitter.value if jitter.value is not None else nan, sigma_err=nan,
        sigma_fitted=jitter.value is None, sigma_source=jitter.describe(), baseline=nan,
        baseline_err=nan, baseline_fitted="baseline" in like.names, noise=nan,
        response_noise=nan, response_noise_err=nan, chi2=nan,
        dof=shots.n_delays - k, response=nan, n_shots=len(shots.delay), n_delays=shots.n_delays,
        converged=False, undetermined={name: why for name in like.names}, units=units)


def _start(like: PumpLikelihood, shots: PumpedShots) -> list[np.ndarray]:
    """Start points: a least-squares fit of the delay-binned means from several guesses.

    Several time zeros (each rise between neighbouring delays) and recovery
    times are tried because a step with few points on its edge has local minima.
    """
    t, y, wsum = shots.binned()
    w = np.sqrt(wsum)
    span = float(t[-1] - t[0]) or 1.0
    sigma0 = like.sigma if like.sigma is not None else like.prior[0]
    peak = int(np.argmax(np.abs(y)))
    a0 = float(y[peak]) or 1e-3
    t0_starts = {float(t[peak]) - 0.5 * float(np.median(np.diff(t)))}
    for k in range(1, len(t)):
        if abs(y[k]) >= 0.5 * abs(a0) > abs(y[k - 1]):
            t0_starts.add(0.5 * float(t[k] + t[k - 1]))
    after = float(t[-1] - t[peak])
    tau_starts = [max(after, span) / f for f in (2.0, 6.0, 20.0)]
    with_baseline = "baseline" in like.names

    def resid(p: np.ndarray) -> np.ndarray:
        tau = math.exp(min(max(p[2], -30.0), 30.0))
        offset = p[3] if with_baseline else 0.0
        return (emg_response(t, p[0], p[1], tau, sigma0) + offset - y) * w

    scale = np.array([span, max(abs(a0), 1e-3), 1.0, max(abs(a0), 1e-3)][:3 + with_baseline])
    fits = [levenberg_marquardt(resid, np.array([t0s, a0, math.log(max(taus, 1e-6))]
                                                + ([0.0] if with_baseline else [])), scale)
            for t0s in sorted(t0_starts) for taus in tau_starts]
    best = min(fits, key=lambda r: r.chi2).p
    t0, amp, log_tau = (float(v) for v in best[:3])
    offset = float(best[3]) if with_baseline else 0.0
    mids = 0.5 * (t[1:] + t[:-1])
    k = int(np.searchsorted(mids, t0))
    edges = [t0, *(float(m) for m in mids[max(0, k - 1):k + 1])]  # and the neighbouring gaps
    tau = math.exp(log_tau)
    return [like.pack(PumpParams(t0=e, amplitude=amp, tau=tau, sigma=sigma0, baseline=offset,
                                 noise=like.noise_guess(e, amp, tau, sigma0, offset),
                                 response_noise=RESPONSE_NOISE_START))
            for e in edges]


def _null_nll(like: PumpLikelihood, q: np.ndarray) -> float:
    """The best ``nll`` without any response (A = 0): only κ (and β) refitted."""
    base = q.copy()
    base[like.index["amplitude"]] = 0.0
    if like.sigma is None:  # σ (like η) means nothing without a response
        base[like.index["sigma"]] = math.log(like.prior[0])
    free = [like.index[name] for name in ("noise", "baseline") if name in like.index]

    def nll(sub: np.ndarray) -> float:
        x = base.copy()
        x[free] = sub
        return like.nll(x)

    return nelder_mead(nll, base[free], np.full(len(free), 0.05), tol=1e-7)[1]


def _maximise(like: PumpLikelihood, starts: list[np.ndarray]) -> tuple[np.ndarray, float]:
    best_q, best = starts[0], math.inf
    for q0 in starts:
        q, value = nelder_mead(like.nll, q0, like.steps(q0) * 50.0, tol=1e-5)
        if value < best:
            best_q, best = q, value
    return best_q, best


def diagnose(fit: PumpFitResult, delays: np.ndarray, jitter: Jitter) -> dict[str, str]:
    """Which fitted parameters the data leave undetermined, each with what to measure.

    * no significant response (the fit beats A = 0 by less than
      :data:`RESPONSE_MIN` in −2 log L): nothing else means anything;
    * t0 outside the scanned delays; or, unless the edge is sharp enough for a
      bracket to be the measurement (``bracketed``), no delay within 2σ of the edge
      (for a fitted σ the widest its one-sigma range allows), or — for an edge
      narrower than the gap between the delays around it — an error no smaller than
      that of "somewhere in the gap" (gap/√12): the data bracket t0 but cannot show
      that the jitter is below the step;
    * τ longer than twice the delays scanned after t0, fewer than two delays in
      ``(t0, t0 + 2τ]``, or τ known to no better than 100 %;
    * the baseline without a delay before ``t0 − 2σ``;
    * a jitter asked for (``of_interest``) known no better than ×/÷ 1.65;
    * otherwise any error that is NaN (the likelihood is flat in that direction).
    """
    names = ["t0", "amplitude", "tau"] + (["sigma"] if fit.sigma_fitted else []) + (
        ["baseline"] if fit.baseline_fitted else [])
    if not fit.response >= RESPONSE_MIN:
        why = (f"no significant pump response: the data fit no response at all nearly as "
               f"well (−2Δlog L = {fit.response:.1f} < {RESPONSE_MIN}); take more pumped "
               f"shots (or check that the pump reaches the sample)")
        return {name: why for name in names}
    out = {k: v for k, v in (("t0", _t0_reason(fit, delays)), ("tau", _tau_reason(fit, delays)),
                             ("baseline", _baseline_reason(fit, delays)),
                             ("sigma", _sigma_reason(fit, delays, jitter))) if v}
    if "amplitude" not in out and abs(fit.amplitude) < 2.0 * fit.amplitude_err:
        out["amplitude"] = (f"the amplitude A is not constrained: A = {fit.amplitude:.3g} ± "
                            f"{fit.amplitude_err:.2g} is the change at time zero, which the "
                            f"data do not fix well enough")
    for name in names:
        err = getattr(fit, f"{name}_err")
        if name not in out and not math.isfinite(err):
            out[name] = (f"{_LABEL[name]} is not constrained: the likelihood is flat in it "
                         f"(its uncertainty is undefined)")
    return {name: out[name] for name in names if name in out}


def _edge_width(fit: PumpFitResult) -> float:
    """The widest jitter the data allow at one sigma (σ itself when it is known)."""
    if fit.sigma_fitted and math.isfinite(fit.sigma_err) and fit.sigma > 0:
        return fit.sigma * math.exp(min(fit.sigma_err / fit.sigma, 5.0))
    return fit.sigma


def _t0_reason(fit: PumpFitResult, delays: np.ndarray) -> str | None:
    u, t0, sig = fit.units, fit.t0, _edge_width(fit)
    lo, hi = float(delays[0]), float(delays[-1])
    if not lo <= t0 <= hi:
        return (f"t0 is not constrained: the edge at {t0:.3f} {u} lies outside the scanned "
                f"delays {lo:g}…{hi:g} {u}; extend the scan across it")
    if fit.bracketed:
        return None
    before = float(delays[delays <= t0].max())
    after = float(delays[delays > t0].min()) if np.any(delays > t0) else hi
    where = (f"the shots around it do not tell the step from {before:g} to {after:g} {u} "
             f"from its neighbours; sample finer around {t0:.2f} {u} with more shots")
    if float(np.min(np.abs(delays - t0))) > 2.0 * sig:
        return (f"t0 is not constrained: no delay within 2σ ({2.0 * sig:.3f} {u}) of the edge "
                f"at {t0:.3f} {u}; {where}")
    gap = after - before
    if 2.0 * sig < gap and not fit.t0_err < gap / math.sqrt(12.0):  # a sharp edge, only
        # located as well as "somewhere in the gap" (a uniform spread has sd gap/√12)
        return (f"t0 is not constrained: t0 = {t0:.3f} ± {fit.t0_err:.2g} {u} says no more "
                f"than that the edge lies between two delays; {where}")
    return None


def _tau_reason(fit: PumpFitResult, delays: np.ndarray) -> str | None:
    u, t0, tau, hi = fit.units, fit.t0, fit.tau, float(delays[-1])
    inside = int(np.count_nonzero((delays > t0) & (delays <= t0 + 2.0 * tau)))
    if tau > 2.0 * (hi - t0):
        return (f"tau is not constrained: the response has not recovered by the last delay "
                f"({hi:g} {u}; tau ≈ {tau:.3g} {u}); extend the scan to about "
                f"{t0 + 3.0 * tau:.3g} {u}")
    if inside < 2:
        return (f"tau is not constrained: only {inside} delay(s) between t0 and t0 + 2·tau "
                f"({t0:.3g}…{t0 + 2.0 * tau:.3g} {u}); sample more delays there")
    if fit.tau_err > tau:
        return (f"tau is not constrained: tau = {tau:.3g} ± {fit.tau_err:.2g} {u} (uncertain "
                f"by more than 100 %); take more pumped shots")
    return None


def _baseline_reason(fit: PumpFitResult, delays: np.ndarray) -> str | None:
    edge = fit.t0 - 2.0 * fit.sigma
    if fit.baseline_fitted and not np.any(delays < edge):
        return (f"the baseline is not constrained: no delay before time zero (< t0 − 2σ = "
                f"{edge:.3f} {fit.units}); measure at negative delays")
    return None


def _sigma_reason(fit: PumpFitResult, delays: np.ndarray, jitter: Jitter) -> str | None:
    if not (fit.sigma_fitted and jitter.of_interest):
        return None
    if fit.sigma_err < RESOLVED_LOG_SIGMA * fit.sigma:  # known to better than ×/÷ 1.65
        return None
    steps = np.diff(delays)
    near = float(steps[max(0, min(len(steps) - 1, int(np.searchsorted(delays, fit.t0)) - 1))])
    return (f"the jitter sigma is not resolved: sigma = {fit.sigma:.3g} ± {fit.sigma_err:.2g} "
            f"{fit.units} with delay steps of {near:g} {fit.units} near t0; sample finer than "
            f"sigma around t0, or give --jitter or a timing tool")


_LABEL = {"t0": "t0", "amplitude": "the amplitude A", "tau": "tau",
          "sigma": "the jitter sigma", "baseline": "the baseline"}
