"""Counter-based random numbers keyed by (seed, tag, stream).

Every random quantity of a shot is a pure function of the profile seed, the
shot's tag and a stream number, so a shot reads the same whether it is taken in
a run, in a detector trigger or regenerated later from the facility archive, and
no matter how the DAQ's blocks are cut.  A SplitMix64 finaliser over the three
keys gives 64 well-mixed bits per value (vectorised in numpy); normal, gamma and
Poisson variates are built from them with fixed numbers of draws per shot.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["box_muller", "gammas", "normals", "poisson_from", "poisson_one", "poissons",
           "stream_bits", "uniforms"]

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
_FEW_STREAMS = 256  # up to this many stream numbers, keys are looked up one by one


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
    stream = np.asarray(stream, dtype=np.int64)
    if stream.size <= _FEW_STREAMS:  # the usual case (one per column): no sorting
        keys = np.array([_key(seed, s) for s in stream.ravel().tolist()],
                        dtype=np.uint64).reshape(stream.shape)
    else:
        streams, where = np.unique(stream, return_inverse=True)
        keys = np.array([_key(seed, int(s)) for s in streams],
                        dtype=np.uint64)[where].reshape(stream.shape)
    return _mix((t * _GOLD) ^ keys)


def uniforms(seed: int, tags: np.ndarray, stream: int | np.ndarray) -> np.ndarray:
    """Uniform variates in the open interval (0, 1), one per tag."""
    bits = stream_bits(seed, tags, stream) >> _S11
    return (bits.astype(np.float64) + 0.5) * (1.0 / 9007199254740992.0)


def box_muller(u1: np.ndarray, u2: np.ndarray) -> np.ndarray:
    """Standard normals from two independent uniforms in (0, 1)."""
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


def normals(seed: int, tags: np.ndarray, stream: int | np.ndarray) -> np.ndarray:
    """Standard normal variates (Box–Muller over streams ``stream`` and ``stream+1``)."""
    return box_muller(uniforms(seed, tags, stream), uniforms(seed, tags, np.add(stream, 1)))


def gammas(seed: int, tags: np.ndarray, stream: int | np.ndarray,
           shape: float | np.ndarray) -> np.ndarray:
    """Gamma(shape, scale=1) variates by Marsaglia–Tsang with a fixed number of rounds.

    Uses streams ``stream .. stream+3*_ROUNDS``; the acceptance rate is > 95 % per
    round for shape >= 1, so after eight rounds a shot is left unresolved with
    probability < 1e-10 and then takes the Wilson–Hilferty value (same law to 1e-3).
    Shapes below one use the boost ``G(a) = G(a+1) U^(1/a)``.  ``stream`` and
    ``shape`` may be arrays broadcasting against ``tags`` (one column per
    quantity, e.g. ``tags[:, None]`` against three streams): every round then
    draws all columns in one call and later rounds only the rejected entries.
    """
    tags = np.asarray(tags)
    full = np.broadcast_shapes(tags.shape, np.shape(stream), np.shape(shape))
    t_all = np.broadcast_to(tags, full)
    s_all = np.broadcast_to(np.asarray(stream, dtype=np.int64), full)
    shp = np.broadcast_to(np.asarray(shape, dtype=np.float64), full)
    boost = shp < 1.0
    a = np.where(boost, shp + 1.0, shp)
    d = a - 1.0 / 3.0
    c = 1.0 / np.sqrt(9.0 * d)
    out = np.full(full, np.nan)
    idx = np.arange(out.size)
    t_f, s_f, d_f, c_f = t_all.ravel(), s_all.ravel(), d.ravel(), c.ravel()
    flat = out.reshape(-1)
    for r in range(_ROUNDS):
        if r == 0:
            s0 = np.asarray(stream, dtype=np.int64)
            x = np.broadcast_to(normals(seed, tags, s0), full).ravel()
            u = np.broadcast_to(uniforms(seed, tags, s0 + 2), full).ravel()
            dd, cc = d_f, c_f
        else:
            x = normals(seed, t_f[idx], s_f[idx] + 3 * r)
            u = uniforms(seed, t_f[idx], s_f[idx] + 3 * r + 2)
            dd, cc = d_f[idx], c_f[idx]
        v = (1.0 + cc * x) ** 3
        with np.errstate(invalid="ignore", divide="ignore"):
            ok = (v > 0) & (np.log(u) < 0.5 * x * x + dd - dd * v + dd * np.log(v))
        flat[idx[ok]] = (dd * v)[ok]
        idx = idx[~ok]
        if len(idx) == 0:
            break
    if len(idx):
        a_f = a.ravel()[idx]
        z = normals(seed, t_f[idx], s_f[idx] + 3 * _ROUNDS)
        flat[idx] = a_f * np.maximum(1.0 - 1.0 / (9.0 * a_f) + z / (3.0 * np.sqrt(a_f)),
                                     0.0) ** 3
    if boost.any():
        b = boost
        out[b] *= uniforms(seed, t_all[b], s_all[b] + 3 * _ROUNDS + 2) ** (1.0 / shp[b])
    return out


_ROUNDS = 8
_POISSON_EXACT_BELOW = 64.0
_SCALAR_ENTRIES = 16      # below this many, a plain loop beats any table
_TABLE_SIZE = 1 << 16     # up to this many table cells, one table of all terms at once


def _invert(lam: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Exact Poisson variates for 1-D means below 64 by inversion of the uniforms ``u``.

    ``P(k) = P(k-1) * (lam / k)`` and the running CDF are accumulated in the same
    order for every entry, truncated at ``lam + 12 sqrt(lam) + 20`` terms, so an
    entry's value never depends on which other entries are drawn with it: a few
    entries loop in Python (one-shot reads), a small table is built at once, and
    otherwise all entries step together while any is still open.
    """
    terms = (lam + 12.0 * np.sqrt(lam) + 20.0).astype(np.int64)
    if len(lam) <= _SCALAR_ENTRIES:
        return np.asarray([_count(*a) for a in zip(lam.tolist(), np.exp(-lam).tolist(),
                                                    u.tolist(), terms.tolist(), strict=True)],
                          dtype=np.int64)
    width = int(terms.max())
    if len(lam) * width <= _TABLE_SIZE:
        table = np.empty((len(lam), width))
        table[:, 0] = np.exp(-lam)
        np.divide(lam[:, None], np.arange(1, width, dtype=np.float64), out=table[:, 1:])
        np.cumprod(table, axis=1, out=table)
        np.cumsum(table, axis=1, out=table)
        return ((u[:, None] > table) & (np.arange(width) < terms[:, None])).sum(axis=1)
    got = np.zeros(len(lam), dtype=np.int64)
    p = np.exp(-lam)
    idx = np.nonzero((u > p) & (terms > 0))[0]
    pa, ca, la, ua, ta = p[idx], p[idx], lam[idx], u[idx], terms[idx]
    k = 0
    while len(idx):
        k += 1
        got[idx] = k
        pa = pa * (la / float(k))
        ca = ca + pa
        keep = (ua > ca) & (k < ta)
        idx, pa, ca, la, ua, ta = idx[keep], pa[keep], ca[keep], la[keep], ua[keep], ta[keep]
    return got


def _count(lam: float, p: float, u: float, terms: int) -> int:
    """One inversion in plain floats: the same products and sums as the table."""
    cdf, k = p, 0
    while k < terms and u > cdf:
        k += 1
        p = p * (lam / k)
        cdf = cdf + p
    return k


def _draw(lam: float, exp_neg: float, u1: float, z: float) -> int:
    """One Poisson variate in plain floats (``exp_neg = exp(-lam)``, ``z`` the Box–Muller
    normal of the two uniforms), with :func:`poisson_from`'s arithmetic."""
    if lam >= _POISSON_EXACT_BELOW:
        return max(math.floor(lam + math.sqrt(lam) * z + 0.5), 0)
    if lam > 0:
        return _count(lam, exp_neg, u1, int(lam + 12.0 * math.sqrt(lam) + 20.0))
    return 0


def poisson_one(lam: float, u1: float, u2: float) -> int:
    """One Poisson variate from two uniforms: the value :func:`poisson_from` gives the entry.

    Only what the mean needs is computed (numpy's ``exp``/``log``/``cos`` on one float
    return the bits its array loops do), so a one-shot read costs a few microseconds.
    """
    if lam >= _POISSON_EXACT_BELOW:
        return _draw(lam, 0.0, u1, float(box_muller(u1, u2)))  # type: ignore[arg-type]
    if lam > 0:
        return _draw(lam, float(np.exp(-lam)), u1, 0.0)
    return 0


def poisson_from(u1: np.ndarray, u2: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """Poisson variates (int64) with means ``lam`` from two uniforms per entry.

    Means below 64 are drawn exactly by CDF inversion of ``u1`` (:func:`_invert`);
    larger means use the normal approximation (Box–Muller of ``u1``, ``u2``) with
    continuity correction, whose skewness error (1/sqrt(lam) < 0.125) is far
    below the shot noise it models.  Shapes broadcast.  A handful of entries (a
    one-shot read) is drawn in plain floats, with the same arithmetic and values.
    """
    lam = np.asarray(lam, dtype=np.float64)
    shape = lam.shape
    if np.shape(u1) != shape or np.shape(u2) != shape:
        shape = np.broadcast_shapes(np.shape(u1), np.shape(u2), lam.shape)
        lam, u1, u2 = (np.broadcast_to(x, shape) for x in (lam, u1, u2))
    if lam.size <= _SCALAR_ENTRIES:  # one-shot reads: entry by entry, same arithmetic
        counts = [_draw(lm, e, ui, zi) for lm, e, ui, zi in zip(
            lam.ravel().tolist(), np.exp(-lam).ravel().tolist(), np.ravel(u1).tolist(),
            box_muller(u1, u2).ravel().tolist(), strict=True)]
        return np.asarray(counts, dtype=np.int64).reshape(shape)
    out = np.zeros(shape, dtype=np.int64)
    big = lam >= _POISSON_EXACT_BELOW
    if big.any():
        lb = lam[big]
        z = box_muller(u1[big], u2[big])
        out[big] = np.maximum(np.floor(lb + np.sqrt(lb) * z + 0.5), 0.0)
    small = (lam > 0) & ~big
    if small.any():
        out[small] = _invert(lam[small], u1[small])
    return out


def poissons(seed: int, tags: np.ndarray, stream: int | np.ndarray, lam: np.ndarray
             ) -> np.ndarray:
    """Poisson variates with per-tag means ``lam`` (int64), from streams ``stream``, ``+1``."""
    return poisson_from(uniforms(seed, tags, stream), uniforms(seed, tags, np.add(stream, 1)),
                        lam)
