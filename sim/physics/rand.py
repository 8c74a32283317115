"""Counter-based random numbers keyed by (seed, tag, stream).

Every random quantity of a shot is a pure function of the profile seed, the
shot's tag and a stream number, so a shot reads the same whether it is taken in
a run, in a detector trigger or regenerated later from the facility archive, and
no matter how the DAQ's blocks are cut.  A SplitMix64 finaliser over the three
keys gives 64 well-mixed bits per value (vectorised in numpy); normal, gamma and
Poisson variates are built from them with fixed numbers of draws per shot.
"""

from __future__ import annotations

import numpy as np

__all__ = ["gammas", "normals", "poissons", "stream_bits", "uniforms"]

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLD = np.uint64(0x9E3779B97F4A7C15)
_KEY2 = np.uint64(0xD6E8FEB86659FD93)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)


def _mix(z: np.ndarray) -> np.ndarray:
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


_KEYS: dict[tuple[int, int], np.uint64] = {}


def _key(seed: int, stream: int) -> np.uint64:
    key = _KEYS.get((seed, stream))
    if key is None:
        key = _mix(np.array([seed & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64)
                   ^ (np.array([stream], dtype=np.uint64) * _KEY2))[0]
        if len(_KEYS) < 100_000:  # a pure function of its arguments: safe to memoise
            _KEYS[(seed, stream)] = key
    return key


def stream_bits(seed: int, tags: np.ndarray, stream: int | np.ndarray) -> np.ndarray:
    """64 random bits per tag for ``stream`` (uint64 array).

    ``stream`` may be an array broadcasting against ``tags`` (e.g. tags[:, None]
    with one stream per column) to draw several independent quantities at once.
    """
    t = np.asarray(tags, dtype=np.uint64)
    if np.ndim(stream) == 0:
        return _mix((t * _GOLD) ^ _key(seed, int(stream)))
    keys = np.array([_key(seed, int(s)) for s in np.ravel(stream)],
                    dtype=np.uint64).reshape(np.shape(stream))
    return _mix((t * _GOLD) ^ keys)


def uniforms(seed: int, tags: np.ndarray, stream: int | np.ndarray) -> np.ndarray:
    """Uniform variates in the open interval (0, 1), one per tag."""
    bits = stream_bits(seed, tags, stream) >> _S11
    return (bits.astype(np.float64) + 0.5) * (1.0 / 9007199254740992.0)


def normals(seed: int, tags: np.ndarray, stream: int | np.ndarray) -> np.ndarray:
    """Standard normal variates (Box–Muller over streams ``stream`` and ``stream+1``)."""
    u1 = uniforms(seed, tags, stream)
    u2 = uniforms(seed, tags, stream + 1)
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


def gammas(seed: int, tags: np.ndarray, stream: int, shape: float) -> np.ndarray:
    """Gamma(shape, scale=1) variates by Marsaglia–Tsang with a fixed number of rounds.

    Uses streams ``stream .. stream+3*_ROUNDS``; the acceptance rate is > 95 % per
    round for shape >= 1, so after eight rounds a shot is left unresolved with
    probability < 1e-10 and then takes the Wilson–Hilferty value (same law to 1e-3).
    Shapes below one use the boost ``G(a) = G(a+1) U^(1/a)``.
    """
    tags = np.asarray(tags)
    boost = shape < 1.0
    a = shape + 1.0 if boost else shape
    d = a - 1.0 / 3.0
    c = 1.0 / np.sqrt(9.0 * d)
    out = np.full(tags.shape, np.nan)
    todo = np.ones(tags.shape, dtype=bool)
    for r in range(_ROUNDS):
        s = stream + 3 * r
        x = normals(seed, tags, s)
        v = (1.0 + c * x) ** 3
        u = uniforms(seed, tags, s + 2)
        with np.errstate(invalid="ignore", divide="ignore"):
            ok = (v > 0) & (np.log(u) < 0.5 * x * x + d - d * v + d * np.log(v))
        take = todo & ok
        out[take] = d * v[take]
        todo &= ~ok
        if not todo.any():
            break
    if todo.any():
        z = normals(seed, tags[todo], stream + 3 * _ROUNDS)
        out[todo] = a * np.maximum(1.0 - 1.0 / (9.0 * a) + z / (3.0 * np.sqrt(a)), 0.0) ** 3
    if boost:
        out *= uniforms(seed, tags, stream + 3 * _ROUNDS + 2) ** (1.0 / shape)
    return out


_ROUNDS = 8
_POISSON_EXACT_BELOW = 64.0


def poissons(seed: int, tags: np.ndarray, stream: int | np.ndarray, lam: np.ndarray
             ) -> np.ndarray:
    """Poisson variates with per-tag means ``lam`` (int64).

    Means below 64 are drawn exactly by CDF inversion of one uniform; larger
    means use the normal approximation with continuity correction, whose
    skewness error (1/sqrt(lam) < 0.125) is far below the shot-noise it models.
    """
    tags = np.asarray(tags)
    shape = np.broadcast_shapes(tags.shape, np.shape(stream), np.shape(lam))
    lam = np.broadcast_to(np.asarray(lam, dtype=np.float64), shape)
    out = np.zeros(shape, dtype=np.int64)
    small = (lam > 0) & (lam < _POISSON_EXACT_BELOW)
    if small.any():
        ls = lam[small]
        u = uniforms(seed, tags, stream)
        u = np.broadcast_to(u, shape)[small]
        p = np.exp(-ls)
        cdf = p.copy()
        k = np.zeros(ls.shape, dtype=np.int64)
        kmax = int(np.max(ls) + 12.0 * np.sqrt(np.max(ls)) + 20)
        for i in range(1, kmax):
            more = u > cdf
            if not more.any():
                break
            k += more
            p = p * ls / i
            cdf = cdf + p
        out[small] = k
    big = lam >= _POISSON_EXACT_BELOW
    if big.any():
        z = np.broadcast_to(normals(seed, tags, np.asarray(stream) + 1), shape)[big]
        lb = lam[big]
        out[big] = np.maximum(np.floor(lb + np.sqrt(lb) * z + 0.5), 0).astype(np.int64)
    return out
