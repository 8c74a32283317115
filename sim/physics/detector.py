"""MPCCD detectors: geometry, gain, per-shot ROI reductions and (on demand) full images.

Per shot the simulator draws photon *counts* (Bragg spot, diffuse background
inside each ROI, diffuse elsewhere on every sensor), the read-noise sums of the
two ROIs and the common-mode offsets of their sensors, vectorised; ROI sums
and photon counts follow from them.  A full image is drawn only when asked
for, by a numba kernel that places exactly those counts, noise sums and
offsets, so images and small data agree (to ADC rounding and saturation).

Signal chain: a photon is detected with the sensor's quantum efficiency
``1 - exp(-t / lambda_photo(E))`` (t = 50 um for the MPCCD: ~0.32 at 10 keV) and
gives ``ADU = E / (pair_energy * absgain)`` with ``pair_energy = 3.65 eV`` and
``absgain`` in electrons per ADU (18 -> 152.2 ADU per 10 keV photon).  Its
charge cloud (rms ``charge_cloud_um``) spills into the neighbouring pixel when
it lands near a pixel edge: charge sharing, which fills the valley between the
0- and 1-photon peaks of the pixel histogram.  A pixel holds at most its full
well; the raw value adds the pedestal map, read noise (electrons / absgain), a
common-mode offset per sensor and shot, and a slow pedestal drift, and is
rounded and clipped to 16 bits.  Small-data ROI sums are computed on the
pedestal-subtracted image with the *fixed* pedestal map the DAQ was given, so
common mode and drift stay in them (``pixels x offset``) until users subtract a
dark taken nearby or a dark ROI of the same sensor; a saturated spot makes them
too low (:mod:`sim.physics.spot`).  ``ROI_0_max`` is the brightest pixel of ROI 0.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sim.physics.attenuation import Attenuation
from sim.physics.rand import normals, poisson_from, poisson_one, uniforms
from sim.physics.spot import SpotProfile

__all__ = ["ADC_MAX", "DetectorModel", "Sensor"]

ROWS, COLS, PIXEL_UM = 1024, 512, 50.0
ADC_MAX = 65535.0
#: per-shot values an image is redrawn from (besides the rest-of-sensor counts)
RECIPE_KEYS = ("n_bragg", "n_d0", "n_d1", "noise0", "noise1", "energy_kev", "off0", "off1",
               "drift")
_IMPERFECTIONS = ("sensor_thickness_um", "full_well_e", "charge_cloud_um", "common_mode_adu",
                  "pedestal_drift_adu", "pedestal_drift_period_s")


@dataclass(frozen=True, slots=True)
class Sensor:
    """One MPCCD sensor: centre position (um), in-plane rotation (deg), gain (e-/ADU)."""

    pos_um: tuple[float, float, float]
    rotation_deg: float
    absgain: float


@dataclass(frozen=True)
class DetectorModel:
    """An MPCCD (one or eight sensors) as the simulator draws it.

    Args:
        name: device name (``mpccd``); prefixes its small-data keys.
        detector_id: facility id stem; sensor ``k`` is ``f"{detector_id}-{k+1}"``.
        sensors: sensor geometry and gains.
        bragg: ``sensor, row, col, sigma_px, efficiency`` of the Bragg spot.
        rois: ``roi0``, ``roi1`` boxes ``[sensor, row0, row1, col0, col1)``.
        diffuse_per_pixel_per_uj: diffuse photons per pixel per uJ of probe on the sample.
        pedestal_adu, pedestal_spread_adu: pedestal level and fixed-pattern rms.
        read_noise_e: rms read noise in electrons.
        pair_energy_ev: electron–hole pair energy in Si.
        sensor_thickness_um: depleted Si thickness (sets the quantum efficiency).
        full_well_e: charge one pixel holds.
        charge_cloud_um: rms size of a photon's charge cloud (charge sharing).
        common_mode_adu: rms common-mode offset of a sensor per shot.
        pedestal_drift_adu, pedestal_drift_period_s: slow pedestal drift (sinusoid of the
            facility clock with a seeded phase per detector).
        absorption: Si photoabsorption (for the quantum efficiency; ``None`` = 1).
    """

    name: str
    detector_id: str
    sensors: tuple[Sensor, ...]
    bragg: Mapping[str, float]
    rois: Mapping[str, tuple[int, int, int, int, int]]
    diffuse_per_pixel_per_uj: float = 2.5e-4
    pedestal_adu: float = 300.0
    pedestal_spread_adu: float = 15.0
    read_noise_e: float = 150.0
    pair_energy_ev: float = 3.65
    sensor_thickness_um: float = 50.0
    full_well_e: float = 4.0e6
    charge_cloud_um: float = 5.0
    common_mode_adu: float = 1.0
    pedestal_drift_adu: float = 2.0
    pedestal_drift_period_s: float = 10800.0
    absorption: Attenuation | None = None
    _pedestals: dict[int, np.ndarray] = field(default_factory=dict, repr=False, compare=False)
    # seed -> (sensors, rows, cols) pedestal maps
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_options(cls, name: str, options: Mapping[str, Any],
                     pair_energy_ev: float = 3.65, absorption: Attenuation | None = None
                     ) -> DetectorModel:
        """Build from a profile device's options (see ``sim/profiles/bl3.yaml``)."""
        sensors = tuple(Sensor(tuple(float(v) for v in s["pos_um"]),  # type: ignore[arg-type]
                               float(s.get("rotation_deg", 0.0)), float(s["absgain"]))
                        for s in options["sensors"])
        rois = {k: tuple(int(v) for v in box) for k, box in options["rois"].items()}
        for key, box in rois.items():
            s, r0, r1, c0, c1 = box
            if not (0 <= s < len(sensors) and 0 <= r0 < r1 <= ROWS and 0 <= c0 < c1 <= COLS):
                raise ValueError(f"{name}: ROI {key} {list(box)} lies outside the sensors")
        return cls(name=name, detector_id=str(options["detector_id"]), sensors=sensors,
                   bragg=dict(options["bragg"]), rois=rois,  # type: ignore[arg-type]
                   diffuse_per_pixel_per_uj=float(options.get("diffuse_per_pixel_per_uj", 0.0)),
                   pedestal_adu=float(options.get("pedestal_adu", 300.0)),
                   pedestal_spread_adu=float(options.get("pedestal_spread_adu", 15.0)),
                   read_noise_e=float(options.get("read_noise_e", 150.0)),
                   pair_energy_ev=pair_energy_ev, absorption=absorption,
                   **{k: float(options[k]) for k in _IMPERFECTIONS if k in options})

    # -- gains -------------------------------------------------------------------
    def adu_per_photon(self, energy_kev: float | np.ndarray, sensor: int = 0
                       ) -> float | np.ndarray:
        """Signal of one photon in ADU: E / (pair energy * absgain)."""
        return np.asarray(energy_kev) * 1e3 / (self.pair_energy_ev * self.sensors[sensor].absgain)

    def noise_adu(self, sensor: int = 0) -> float:
        """rms read noise in ADU."""
        return self.read_noise_e / self.sensors[sensor].absgain

    def quantum_efficiency(self, energy_kev: float) -> float:
        """Fraction of the photons reaching the sensor that it detects."""
        if self.absorption is None:
            return 1.0
        key = ("qe", energy_kev)
        got = self._cache.get(key)
        if got is None:
            got = self._cache[key] = self.absorption.absorbed(self.sensor_thickness_um,
                                                              energy_kev)
        return got

    def cap_photons(self, energy_kev: float, sensor: int = 0) -> float:
        """Photons a pixel holds before it saturates: its full well or the ADC range above
        the pedestal, whichever is less."""
        adu = float(self.adu_per_photon(energy_kev, sensor))
        return min(self.full_well_e * self.pair_energy_ev / (energy_kev * 1e3),
                   (ADC_MAX - self.pedestal_adu) / adu)

    def spot(self, energy_kev: float) -> SpotProfile:
        """The Bragg spot inside ROI 0 and its saturation at ``energy_kev``."""
        key = ("spot", energy_kev)
        got = self._cache.get(key)
        if got is None:
            s, r0, r1, c0, c1 = self.rois["roi0"]
            got = self._cache[key] = SpotProfile(
                float(self.bragg["row"]), float(self.bragg["col"]),
                float(self.bragg["sigma_px"]), (r0, r1, c0, c1),
                self.cap_photons(energy_kev, s))
        return got

    def drift_adu(self, unix_time: np.ndarray | float) -> np.ndarray | float:
        """Slow pedestal drift (ADU) at Unix times, the same on every sensor."""
        if self.pedestal_drift_adu == 0.0:
            return 0.0
        got = self._cache.get("drift")
        if got is None:
            got = self._cache["drift"] = (
                (zlib.crc32(self.detector_id.encode()) % 6283) / 1000.0,
                2.0 * math.pi / self.pedestal_drift_period_s)
        phase, w = got
        if isinstance(unix_time, np.ndarray):
            return self.pedestal_drift_adu * np.sin(w * unix_time + phase)
        return self.pedestal_drift_adu * float(np.sin(w * float(unix_time) + phase))

    @property
    def sensor_ids(self) -> tuple[str, ...]:
        return tuple(f"{self.detector_id}-{k + 1}" for k in range(len(self.sensors)))

    def _box_pixels(self, key: str) -> int:
        _, r0, r1, c0, c1 = self.rois[key]
        return (r1 - r0) * (c1 - c0)

    def _rest_pixels(self, sensor: int) -> int:
        n = ROWS * COLS
        for key in ("roi0", "roi1"):
            if self.rois[key][0] == sensor:
                n -= self._box_pixels(key)
        return n

    @property
    def n_counts(self) -> int:
        """Photon-count columns per shot: Bragg, diffuse in ROI 0, in ROI 1, rest of each sensor."""
        return 3 + len(self.sensors)

    def streams(self) -> tuple[np.ndarray, np.ndarray]:
        """Random streams of this detector: (2 uniforms per count column, 3 or 4 normals).

        Count column ``j`` uses uniform streams ``base + 2j`` and ``base + 2j + 1``;
        normal ``b`` (ROI 0 and 1 read-noise sums, the common mode of ROI 0's sensor and,
        if ROI 1 lies on another one, of that sensor) uses streams ``base + 2P + 2b``
        and ``+1``.
        """
        base = 10_000 + (zlib.crc32(self.detector_id.encode()) % 1000) * 100
        p = self.n_counts
        n_z = 3 if self.rois["roi0"][0] == self.rois["roi1"][0] else 4
        return base + np.arange(2 * p), base + 2 * p + 2 * np.arange(n_z)

    def _constants(self) -> tuple[np.ndarray, float, float, float, float, int, int, bool]:
        """Per-uJ mean photons per count column, ROI noise rms, ADU per photon per keV,
        ROI pixel counts, and whether both ROIs lie on one sensor (one common mode)."""
        got = self._cache.get("constants")
        if got is None:
            px = [0.0, self._box_pixels("roi0"), self._box_pixels("roi1")]
            px += [self._rest_pixels(k) for k in range(len(self.sensors))]
            s0, s1 = self.rois["roi0"][0], self.rois["roi1"][0]
            got = self._cache["constants"] = (
                self.diffuse_per_pixel_per_uj * np.asarray(px, dtype=np.float64),
                self.noise_adu(s0) * math.sqrt(self._box_pixels("roi0")),
                self.noise_adu(s1) * math.sqrt(self._box_pixels("roi1")),
                float(self.adu_per_photon(1.0, s0)), float(self.adu_per_photon(1.0, s1)),
                self._box_pixels("roi0"), self._box_pixels("roi1"), s0 == s1)
        return got

    def _keys(self) -> tuple[tuple[Any, ...], list[float]]:
        """Column names of :meth:`shots_from` (ROI 0, ROI 1, photons, ROI 0 max, recipe,
        rest per sensor) and the diffuse photons per uJ of the count columns after the
        Bragg one."""
        got = self._cache.get("keys")
        if got is None:
            pre = f"_recipe/{self.name}/"
            names = (f"{self.name}/ROI_0_sum", f"{self.name}/ROI_1_sum",
                     f"{self.name}/photon_nPhot", f"{self.name}/ROI_0_max",
                     f"{self.name}/ROI_0_nsat",
                     tuple(pre + k for k in RECIPE_KEYS),
                     tuple(f"{pre}rest{k}" for k in range(len(self.sensors))))
            got = self._cache["keys"] = (names, self._constants()[0].tolist()[1:])
        return got

    # -- per-shot reductions -------------------------------------------------------
    def shots(self, seed: int, tags: np.ndarray, bragg_photons: np.ndarray | float,
              probe_uj: np.ndarray | float, energy_kev: np.ndarray | float,
              unix_time: np.ndarray | float = 0.0) -> dict[str, np.ndarray]:
        """Photon counts, noise sums and ROI reductions of the shots with ``tags``.

        Draws this detector's variates itself; the simulator's shot model takes
        the same variates from its noise bank and calls :meth:`shots_from`.
        """
        tags = np.asarray(tags, dtype=np.int64)[:, None]
        u, z = self.streams()
        return self.shots_from(uniforms(seed, tags, u), normals(seed, tags, z),
                               bragg_photons, probe_uj, energy_kev, unix_time)

    def shots_from(self, uniforms: np.ndarray | list[float], noise_z: np.ndarray | list[float],
                   bragg_photons: np.ndarray | float, probe_uj: np.ndarray | float,
                   energy_kev: np.ndarray | float, unix_time: np.ndarray | float = 0.0
                   ) -> dict[str, Any]:
        """Photon counts, noise sums and ROI reductions of ``n`` shots (vectorised), or of
        one shot in plain numbers when the variates come as lists (same values).

        Args:
            uniforms: (n, 2P) variates of :meth:`streams`' count streams (one shot: a list).
            noise_z: (n, 3 or 4) standard normals of :meth:`streams` (one shot: a list).
            bragg_photons: expected Bragg photons per shot reaching the detector, before its
                share of the reflection (``bragg.efficiency``) and its quantum efficiency.
            probe_uj: probe pulse energy on the sample per shot (0 without X-rays).
            energy_kev: probe photon energy per shot.
            unix_time: when the shots were taken (pedestal drift).

        Returns:
            ``ROI_0_sum``, ``ROI_1_sum`` (ADU, pedestal-subtracted with the fixed map),
            ``photon_nPhot``, ``ROI_0_max``, ``ROI_0_nsat`` (saturated pixels) and the
            ``_recipe/...`` columns :meth:`render` needs to redraw the images: per-shot
            arrays, or numbers for one shot.
        """
        p = self.n_counts
        per_uj, sd0, sd1, g0, g1, npix0, npix1, shared = self._constants()
        dark = not isinstance(probe_uj, np.ndarray) and probe_uj == 0.0  # noise only
        e_one = energy_kev if not isinstance(energy_kev, np.ndarray) else float(energy_kev[0])
        eff = float(self.bragg["efficiency"]) * self.quantum_efficiency(float(e_one))
        keys = self._keys()
        cm = self.common_mode_adu
        drift = self.drift_adu(unix_time)
        counts: Any
        if isinstance(noise_z, list):  # one shot
            noise0, noise1 = noise_z[0] * sd0, noise_z[1] * sd1
            off0 = cm * noise_z[2] + drift
            off1 = off0 if shared else cm * noise_z[3] + drift
            if dark:
                counts = [0] * p
            else:
                lam = [bragg_photons * eff, *(probe_uj * c for c in keys[1])]
                counts = [poisson_one(m, a, b) for m, a, b in zip(
                    lam, uniforms[:p], uniforms[p:], strict=True)]
            n_bragg, n_d0, n_d1 = counts[0], counts[1], counts[2]
            nphot = 0.0 if dark else float(sum(counts))
            energy = energy_kev
        else:
            n = len(noise_z)
            noise0, noise1 = noise_z[:, 0] * sd0, noise_z[:, 1] * sd1
            off0 = cm * noise_z[:, 2] + drift
            off1 = off0 if shared else cm * noise_z[:, 3] + drift
            if dark:
                counts = np.zeros((n, p), dtype=np.int64)  # no X-rays on the sample
            else:
                lam = np.multiply.outer(probe_uj, per_uj) if isinstance(probe_uj, np.ndarray) \
                    else np.tile(probe_uj * per_uj, (n, 1))
                lam[:, 0] = bragg_photons * eff
                counts = poisson_from(uniforms[:, :p], uniforms[:, p:], lam)
            n_bragg, n_d0, n_d1 = counts[:, 0], counts[:, 1], counts[:, 2]
            nphot = np.zeros(n) if dark else counts.sum(axis=1).astype(np.float64)
            energy = (energy_kev if isinstance(energy_kev, np.ndarray)
                      else np.full(n, energy_kev))
            if not isinstance(drift, np.ndarray):
                drift = np.full(n, drift)
            counts = counts.T
        roi0, roi1, nphot_key, max0, nsat0, recipe, rest = keys[0]
        base0, base1 = noise0 + npix0 * off0, noise1 + npix1 * off1
        if dark:
            out = {roi0: base0 + 0.0, roi1: base1 + 0.0, nphot_key: nphot, max0: off0 + 0.0,
                   nsat0: nphot * 0.0}
        else:
            spot = self.spot(float(e_one))
            a0 = energy_kev * g0
            out = {
                roi0: (spot.saturated_sum(n_bragg) + n_d0) * a0 + base0,
                roi1: n_d1 * (energy_kev * g1) + base1,
                nphot_key: nphot,
                max0: spot.brightest(n_bragg) * a0 + off0,
                nsat0: spot.saturated_pixels(n_bragg),
            }
        out.update(zip(recipe, (n_bragg, n_d0, n_d1, noise0, noise1, energy, off0, off1, drift),
                       strict=True))
        out.update(zip(rest, counts[3:], strict=True))  # the rest of each sensor
        return out

    # -- images ------------------------------------------------------------------
    def pedestals(self, seed: int) -> np.ndarray:
        """Every sensor's fixed pedestal map (ADU, sensors x rows x cols), from the seed."""
        got = self._pedestals.get(seed)
        if got is None:
            got = np.empty((len(self.sensors), ROWS, COLS), dtype=np.float32)
            for k in range(len(self.sensors)):
                rng = np.random.default_rng([seed, zlib.crc32(self.detector_id.encode()), k])
                got[k] = self.pedestal_adu + self.pedestal_spread_adu * rng.standard_normal(
                    (ROWS, COLS))
            self._pedestals[seed] = got
        return got

    def pedestal(self, seed: int, sensor: int) -> np.ndarray:
        """The sensor's fixed pedestal map (ADU), a pure function of the seed."""
        return self.pedestals(seed)[sensor]

    def render(self, seed: int, tag: int, sensor: int, recipe: Mapping[str, Any],
               out: np.ndarray | None = None) -> np.ndarray:
        """The raw image (ADU, float32, 1024 x 512) of one sensor for one shot."""
        if out is None:
            out = np.empty((ROWS, COLS), dtype=np.float32)
        self._render(seed, tag, [sensor], recipe, out[None])
        return out

    def render_all(self, seed: int, tag: int, recipe: Mapping[str, Any],
                   out: np.ndarray | None = None) -> np.ndarray:
        """Every sensor's raw image of one shot (sensors x 1024 x 512) in one kernel call."""
        if out is None:
            out = np.empty((len(self.sensors), ROWS, COLS), dtype=np.float32)
        self._render(seed, tag, list(range(len(self.sensors))), recipe, out)
        return out

    def _render(self, seed: int, tag: int, sensors: list[int], recipe: Mapping[str, Any],
                out: np.ndarray) -> None:
        from sim.physics._kernels import render_sensors

        p = f"_recipe/{self.name}/"
        ns = len(sensors)
        boxes = np.full((ns, 2, 4), -1, dtype=np.int64)
        targets = np.zeros((ns, 2))
        box_photons = np.zeros((ns, 2), dtype=np.int64)
        energy = float(recipe[p + "energy_kev"])
        drift = float(recipe.get(p + "drift", 0.0))
        # common mode: the ROI sensors' values are in the recipe, the others come from the tag
        offsets = drift + self.common_mode_adu * normals(
            seed, np.asarray([tag], dtype=np.int64), self.streams()[1][-1] + 2 + 2 * np.asarray(
                sensors, dtype=np.int64))
        for b, key in enumerate(("roi0", "roi1")):
            s, r0, r1, c0, c1 = self.rois[key]
            if s in sensors:
                k = sensors.index(s)
                boxes[k, b] = (r0, r1, c0, c1)
                targets[k, b] = float(recipe[p + f"noise{b}"])
                box_photons[k, b] = int(recipe[p + f"n_d{b}"])
        for b, key in ((1, "roi1"), (0, "roi0")):  # ROI 0's value wins on a shared sensor
            s = self.rois[key][0]
            if s in sensors:
                offsets[sensors.index(s)] = float(recipe.get(p + f"off{b}", drift))
        bragg = int(self.bragg["sensor"])
        bragg_at = sensors.index(bragg) if bragg in sensors else -1
        keys = np.array([(zlib.crc32(f"{seed}/{tag}/{self.detector_id}/{k}".encode()) << 32)
                         | 0x9E37 for k in sensors], dtype=np.uint64)
        peds = self.pedestals(seed)
        if ns == 1:
            peds = peds[sensors[0]:sensors[0] + 1]  # a view, not a 2 MB copy
        elif ns != len(self.sensors):
            peds = peds[sensors]
        well = self.full_well_e * self.pair_energy_ev / (energy * 1e3)
        render_sensors(out, peds, keys,
                       np.array([self.noise_adu(k) for k in sensors]),
                       np.array([float(self.adu_per_photon(energy, k)) for k in sensors]),
                       well, offsets, self.charge_cloud_um / PIXEL_UM,
                       boxes, targets, box_photons, int(recipe[p + "n_bragg"]), bragg_at,
                       float(self.bragg["row"]), float(self.bragg["col"]),
                       float(self.bragg["sigma_px"]),
                       np.array([int(recipe[p + f"rest{k}"]) for k in sensors], dtype=np.int64))
