"""Vibration simulator for healthy and locally damaged rolling bearings (accelerometer signal in g).

The model follows the literature of localized bearing faults:

* **Impulse train with random slip.** A localized fault produces one impact each time a rolling
  element meets it, at the defect frequency (:func:`physics.impact_order`). The rolling elements
  slip, so the intervals fluctuate randomly by about 1–2 % and the mean rate runs slightly below
  the kinematic value (Randall & Antoni, "Rolling element bearing diagnostics — a tutorial",
  MSSP 25 (2011) 485–520, section 2.1; Antoni & Randall, "Differential diagnosis of gear and
  bearing faults", J. Vib. Acoust. 124 (2002) 165–171). This makes the signal cyclostationary
  rather than periodic, which is why envelope analysis works and plain spectra smear (Antoni,
  "Cyclostationarity by examples", MSSP 23 (2009) 987–1036).
* **Resonance excitation.** Each impact rings the structural resonances between the bearing and
  the accelerometer (exponentially decaying sinusoids, 1–3 modes above 1.5 kHz; Randall & Antoni
  2011, fig. 3; McFadden & Smith 1984).
* **Modulation by load zone and rotation.** The impact strength follows the Stribeck load
  distribution ``q(psi) = q_max (1 - (1 - cos psi) / (2 eps))**1.5`` (Harris & Kotzalas 2007) at the
  defect's angle ``psi`` from the load line. An outer-race defect is fixed; an inner-race defect
  turns with the shaft and a ball defect with the cage, so their impacts are amplitude modulated at
  the shaft rate and at FTF, with a transmission-path factor on top (McFadden & Smith, "Model for
  the vibration produced by a single point defect in a rolling element bearing", J. Sound Vib.
  96 (1984) 69–82). A ball's spall meets the outer and inner race alternately (two impacts per spin
  turn, the inner one weaker through its longer path) and only while its spin axis lets it touch.
* **Defect size.** A spall of length ``L`` gives a double event (Sawalhi & Randall, "Vibration
  response of spalled rolling element bearings", MSSP 25 (2011) 846–870; Epps 1991): a weaker
  *entry* event (the element de-stresses as it rolls in, mostly low frequency) and the *exit*
  impact (re-stressing at the trailing edge, exciting the resonances), ``L / v`` apart with ``v``
  the rolling speed (:func:`physics.rolling_speed_m_s`). The exit impact grows mildly with size
  through the depth the element drops into the spall (:func:`physics.ball_drop_depth_mm`); the
  law (``0.45 + 0.55 * (h / h_1mm)**0.25``) is a modelling choice within the trend those authors
  report, not a fitted law.
* **Cage faults.** A damaged pocket disturbs its ball once per cage turn: weak impacts at FTF and
  an amplitude modulation of the bearing's own broadband noise at FTF.
* **Real signal chains** (what a diagnosis of real rig recordings found missing): shaft-rate load
  modulation of outer-race and ball impacts as well as inner-race ones; damping ratios down to
  0.005 and up to four resonances 1 kHz–0.45 fs; intermittent ball contact (FTF-modulated, some
  cage turns silent); a steep anti-alias filter at 0.35–0.48 fs with a noise floor above it;
  slowly varying and shaft-modulated background; looseness (shaft harmonics, half orders, impacts
  once per turn).
* **Everything else.** Shaft harmonics (unbalance, misalignment; 1x velocity 0.05–10 mm/s RMS so the
  ISO severity zones span A–D), a non-synchronous tone family (gear mesh or vane pass) with shaft
  sidebands, electrical hum, coloured machine noise, random non-periodic knocks from other
  machinery (hard negatives for the healthy class) and white sensor noise. ``snr_db`` sets the
  power of a 1 mm fault's component against the non-deterministic noise.

Functions are pure; all randomness comes from the ``rng`` passed in.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import signal as sps

from edgeinv.common.errors import ConfigError

from .physics import FAULTS, PRESETS, BearingGeometry, ball_drop_depth_mm, entry_exit_delay_s, get_geometry, impact_order

FS_CHOICES_HZ = (12000.0, 12800.0, 16000.0, 20000.0, 24000.0, 25600.0, 32000.0, 44100.0, 48000.0, 51200.0)
RPM_RANGE = (600.0, 3600.0)
SIZE_RANGE_MM = (0.1, 3.0)
SNR_RANGE_DB = (-12.0, 24.0)
G = 9.80665


@dataclass(frozen=True)
class Conditions:
    """What a simulated recording is of (the ground truth and the operating point)."""

    fault: str
    defect_size_mm: float
    rpm: float  # true shaft speed
    fs_hz: float
    geometry: BearingGeometry
    snr_db: float
    reported_rpm: float  # what the technician types (nominal; off by a fraction of a percent)
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.fault not in FAULTS:
            raise ConfigError(f"fault must be one of {', '.join(FAULTS)}; got {self.fault!r}")
        if self.fault in ("none", "cage") and self.defect_size_mm != 0.0:
            raise ConfigError(f"defect_size_mm must be 0 for fault={self.fault!r}, got {self.defect_size_mm}")
        if self.fault not in ("none", "cage") and not (0.0 < self.defect_size_mm <= 6.0):
            raise ConfigError(f"defect_size_mm must be in (0, 6] mm for a {self.fault} fault, got {self.defect_size_mm}")
        if not (60.0 <= self.rpm <= 12000.0):
            raise ConfigError(f"rpm must be in 60..12000, got {self.rpm}")
        if not (4000.0 <= self.fs_hz <= 200000.0):
            raise ConfigError(f"fs_hz must be in 4000..200000, got {self.fs_hz}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["geometry"] = self.geometry.to_dict()
        return d


def random_geometry(*, rng: np.random.Generator) -> BearingGeometry:
    """A plausible deep-groove / angular-contact ball bearing (half the time one of the presets)."""
    if rng.random() < 0.5:
        return list(PRESETS.values())[int(rng.integers(len(PRESETS)))]
    n = int(rng.integers(7, 17))
    pitch = float(np.exp(rng.uniform(np.log(20.0), np.log(120.0))))
    ratio = float(rng.uniform(0.15, 0.30))
    ratio = min(ratio, 0.9 * math.pi / n)  # the elements must fit on the pitch circle
    angle = 0.0 if rng.random() < 0.75 else float(rng.uniform(5.0, 25.0))
    return BearingGeometry(f"random n={n}", n, round(ratio * pitch, 3), round(pitch, 3), angle)


def draw_conditions(*, rng: np.random.Generator, fault: str | None = None, defect_size_mm: float | None = None,
                    rpm: float | None = None, fs_hz: float | None = None, geometry=None,
                    snr_db: float | None = None, rpm_error_frac: float = 0.003) -> Conditions:
    """Draw the operating point; any argument given is kept as is.

    Defaults: fault uniform over :data:`physics.FAULTS`; defect size uniform in 0.1–3 mm (0 for
    healthy and cage); speed log-uniform in 600–3600 rpm; ``fs_hz`` from :data:`FS_CHOICES_HZ`;
    SNR uniform in :data:`SNR_RANGE_DB`; the reported speed is off by ``N(0, rpm_error_frac)``.
    """
    fault = FAULTS[int(rng.integers(len(FAULTS)))] if fault is None else fault
    if defect_size_mm is None:
        defect_size_mm = 0.0 if fault in ("none", "cage") else float(rng.uniform(*SIZE_RANGE_MM))
    rpm = float(np.exp(rng.uniform(*np.log(RPM_RANGE)))) if rpm is None else float(rpm)
    fs_hz = float(FS_CHOICES_HZ[int(rng.integers(len(FS_CHOICES_HZ)))]) if fs_hz is None else float(fs_hz)
    geometry = random_geometry(rng=rng) if geometry is None else get_geometry(geometry)
    snr_db = float(rng.uniform(*SNR_RANGE_DB)) if snr_db is None else float(snr_db)
    reported = rpm * (1.0 + rpm_error_frac * float(rng.standard_normal()))
    return Conditions(fault, float(defect_size_mm), rpm, fs_hz, geometry, snr_db, float(reported))


def _stribeck(psi: np.ndarray, eps: float) -> np.ndarray:
    """Load-distribution factor (0..1) at angle psi from the load line (ball bearing exponent 1.5)."""
    arg = 1.0 - (1.0 - np.cos(psi)) / (2.0 * eps)
    return np.clip(arg, 0.0, None) ** 1.5


def _resonance_ir(*, fs_hz: float, rng: np.random.Generator) -> np.ndarray:
    """Impulse response of 1–4 structural modes between the bearing and the sensor (unit peak).

    Natural frequencies 1 kHz .. 0.45 fs (up to 22 kHz), damping ratio log-uniform 0.005–0.08
    (lightly damped housings ring for tens of ms; Randall & Antoni 2011 fig. 3; Sawalhi & Randall
    2008 report 0.01–0.05 on test rigs), several transmission paths with their own gains.
    """
    n_modes = int(rng.integers(1, 5))
    f_hi = min(0.45 * fs_hz, 22000.0)
    fn = rng.uniform(1000.0, f_hi, n_modes)
    zeta = np.exp(rng.uniform(np.log(0.005), np.log(0.08), n_modes))
    gain = rng.uniform(0.2, 1.0, n_modes)
    tau_max = float(np.max(1.0 / (zeta * 2 * np.pi * fn)))
    t = np.arange(int(min(6.0 * tau_max, 0.05) * fs_hz) + 1) / fs_hz
    h = np.zeros_like(t)
    for f, z, g in zip(fn, zeta, gain):
        wd = 2 * np.pi * f * math.sqrt(1 - z * z)
        h += g * np.exp(-z * 2 * np.pi * f * t) * np.sin(wd * t + rng.uniform(0, 2 * np.pi))
    return h / np.max(np.abs(h))


def _place(train: np.ndarray, times_s: np.ndarray, amps: np.ndarray, fs_hz: float) -> None:
    """Add impulses at fractional sample times (linear split between neighbours) into ``train``."""
    pos = times_s * fs_hz
    i0 = np.floor(pos).astype(np.int64)
    frac = pos - i0
    n = len(train)
    ok = (i0 >= 0) & (i0 + 1 < n)
    np.add.at(train, i0[ok], amps[ok] * (1.0 - frac[ok]))
    np.add.at(train, i0[ok] + 1, amps[ok] * frac[ok])


def _impact_times(*, rate_hz: float, duration_s: float, jitter: float, rng: np.random.Generator) -> np.ndarray:
    """Impact instants with cumulative random slip (intervals T(1 + N(0, jitter)))."""
    period = 1.0 / rate_hz
    n = int(duration_s / period) + 3
    intervals = period * (1.0 + jitter * rng.standard_normal(n))
    times = rng.uniform(0, period) + np.concatenate([[0.0], np.cumsum(np.clip(intervals, 0.5 * period, None))[:-1]])
    return times[times < duration_s]


def size_gain(defect_size_mm: float, geometry: BearingGeometry) -> float:
    """Relative exit-impact strength of a spall vs a 1 mm one (see module docstring)."""
    h = ball_drop_depth_mm(defect_size_mm=max(defect_size_mm, 1e-3), geometry=geometry)
    h1 = ball_drop_depth_mm(defect_size_mm=1.0, geometry=geometry)
    return 0.45 + 0.55 * (h / h1) ** 0.25


def _fault_component(cond: Conditions, n: int, h: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The fault's impulse responses (HF part) and the entry events' low-frequency part."""
    fs, f_r, geo = cond.fs_hz, cond.rpm / 60.0, cond.geometry
    dur = n / fs
    train = np.zeros(n)
    low = np.zeros(n)
    if cond.fault == "none":
        return train, low
    order = impact_order(fault=cond.fault, geometry=geo)
    mean_slip = rng.uniform(-0.01, 0.0)
    jitter = float(np.exp(rng.uniform(np.log(0.001), np.log(0.02))))  # sharp lines on rigid rigs, smeared on others
    t = _impact_times(rate_hz=order * f_r * (1.0 + mean_slip), duration_s=dur, jitter=jitter, rng=rng)
    eps = rng.uniform(0.3, 0.7)  # load-zone extent (eps = 0.5: +-90 degrees)
    zone = math.acos(max(-1.0, 1.0 - 2.0 * eps))
    floor = rng.uniform(0.03, 0.2)  # impacts outside the load zone (preload, centrifugal force)
    path = rng.uniform(0.0, 0.5)  # depth of the transmission-path modulation
    psi0 = rng.uniform(0, 2 * np.pi)
    ftf = 0.5 * (1 - geo.diameter_ratio) * f_r * (1.0 + mean_slip)
    # shaft-rate load modulation (unbalance, runout, misalignment): it modulates every fault's
    # impacts, outer-race and ball ones included (McFadden & Smith 1984; Randall & Antoni 2011 sec. 2.1)
    m_shaft = rng.uniform(0.1, 0.9) if rng.random() < 0.7 else 0.0
    shaft_mod = 1.0 + m_shaft * np.cos(2 * np.pi * f_r * t + rng.uniform(0, 2 * np.pi))
    if cond.fault == "outer_race":
        psi_d = rng.uniform(-0.6, 0.6) * zone
        amp = np.full(len(t), _stribeck(np.array(psi_d), eps) + floor) * shaft_mod
    elif cond.fault == "inner_race":
        psi = 2 * np.pi * f_r * t + psi0
        amp = (_stribeck(psi, eps) + floor) * (1.0 - path * (1.0 - np.cos(psi - rng.uniform(0, 2 * np.pi))) / 2.0)
    elif cond.fault == "ball":
        psi = 2 * np.pi * ftf * t + psi0
        amp = (_stribeck(psi, eps) + floor) * (1.0 - path * (1.0 - np.cos(psi)) / 2.0)
        amp *= np.where(np.arange(len(t)) % 2 == 0, 1.0, rng.uniform(0.3, 0.8))  # outer / inner contact
        turns = np.floor(ftf * t).astype(int)  # spin-axis wander: contact strength per cage turn
        amp *= rng.uniform(0.3, 1.0, turns.max() + 1 if len(turns) else 1)[turns] if len(turns) else 1.0
        # intermittent contact: the spall faces the races only during some cage turns (Smith & Randall 2015)
        if len(turns) and rng.random() < 0.6:
            on = rng.random(turns.max() + 1) < rng.uniform(0.3, 0.9)
            on[rng.integers(len(on))] = True
            amp *= on[turns]
        amp *= shaft_mod
    else:  # cage
        amp = np.ones(len(t))
    if cond.fault in ("outer_race", "inner_race"):
        # ball-to-ball differences (diameter tolerance, uneven cage pockets): each race defect is struck
        # by the balls in turn, so impact strength repeats every n impacts = once per cage turn,
        # which puts FTF lines and sidebands into race-fault envelope spectra (not only cage faults)
        per_ball = np.exp(rng.uniform(0.0, 0.4) * rng.standard_normal(geo.n_elements))
        amp = amp * per_ball[(np.arange(len(t)) + int(rng.integers(geo.n_elements))) % geo.n_elements]
    amp = amp * np.exp(0.15 * rng.standard_normal(len(t)))
    if cond.fault == "cage":
        _place(train, t, amp, fs)
        return train, low
    gain = size_gain(cond.defect_size_mm, geo)
    delay = entry_exit_delay_s(defect_size_mm=cond.defect_size_mm, geometry=geo, shaft_hz=f_r)
    # Edge geometry. Half of the spalls are worn (rounded entry edge: the ball rolls in gradually, a weak entry
    # event 0.15-0.5 of the exit impact, mostly a low-frequency de-stressing dip), half are sharp-edged (machined,
    # EDM or fresh spalls, as on test rigs: the ball drops in over a sharp entry edge, a step in contact load that
    # rings the resonances at 0.5-1.0 of the exit impact, and a smaller dip). One uniform draw u gives both the
    # kind and the strength, so the random stream (and every other part of the recording) is unchanged.
    u = rng.uniform(0.0, 1.0)
    sharp = u >= 0.5
    rho = 0.5 + (u - 0.5) if sharp else 0.15 + 0.35 * (2.0 * u)
    if "entry_rho" in cond.extra:  # a study's override (severity.study): same random stream, another entry strength
        lo, hi = cond.extra["entry_rho"]
        rho = lo + (hi - lo) * u
    # the exit strike comes when the ball has crossed the arc: entry-to-exit time = arc length / the ball-to-race
    # surface speed (physics.entry_exit_delay_s; the same for inner and outer race under rolling). An inner-race
    # spall turns through the load zone with the shaft, so both events follow the per-revolution load (``amp``).
    _place(train, t, rho * gain * amp, fs)  # entry
    _place(train, t + delay, gain * amp, fs)  # exit
    # entry de-stressing: a smooth low-frequency dip lasting about the entry-exit time
    width = max(int(round((delay + 5e-4) * fs)), 3)
    dip = np.hanning(width + 2)[1:-1]
    spikes = np.zeros(n)
    _place(spikes, t, -rng.uniform(0.1, 0.3) * (0.4 if sharp else 1.0) * gain * amp, fs)
    low = sps.fftconvolve(spikes, dip, mode="full")[:n]
    return train, low


def simulate_vibration(*, conditions: Conditions, duration_s: float, rng: np.random.Generator) -> np.ndarray:
    """Simulate an accelerometer recording (g) under ``conditions``.

    Parameters
    ----------
    conditions : fault, size, speed, sampling rate, geometry and SNR (see :func:`draw_conditions`).
    duration_s : length of the recording in seconds.
    rng : the only source of randomness.

    Returns
    -------
    signal : float32, shape ``(round(duration_s * fs_hz),)``, acceleration in g.
    """
    cond = conditions
    fs, f_r = cond.fs_hz, cond.rpm / 60.0
    n = int(round(duration_s * fs))
    if n < 16:
        raise ConfigError(f"duration_s too short for fs_hz={fs}: {duration_s}")
    t = np.arange(n) / fs
    h = _resonance_ir(fs_hz=fs, rng=rng)

    # non-deterministic background: coloured machine noise + knocks + sensor noise
    machine_rms = float(np.exp(rng.uniform(np.log(0.01), np.log(0.2))))
    white = rng.standard_normal(n)
    b, a = sps.butter(2, [min(rng.uniform(300, 5000), 0.4 * fs) / (fs / 2), 0.95], btype="band")
    coloured = sps.lfilter(b, a, white) + 0.5 * sps.fftconvolve(rng.standard_normal(n), h, mode="full")[:n] / math.sqrt(np.sum(h * h))
    # low-frequency structural noise: leaky-integrated white noise (corner near 10 Hz)
    lowf = sps.lfilter([1.0], [1.0, -math.exp(-2 * np.pi * 10.0 / fs)], rng.standard_normal(n))
    machine = coloured + float(np.exp(rng.uniform(np.log(0.01), 0.0))) * lowf * np.std(coloured) / (np.std(lowf) + 1e-12)
    if rng.random() < 0.5:  # non-stationary background: slow random level changes (process, flow)
        slow = sps.lfilter([1.0], [1.0, -math.exp(-2 * np.pi * 1.0 / fs)], rng.standard_normal(n))
        slow /= np.std(slow) + 1e-12
        machine = machine * np.exp(rng.uniform(0.1, 0.5) * slow)
    if rng.random() < 0.3:  # shaft-modulated background (rub, misalignment): not a bearing line source
        machine = machine * (1.0 + rng.uniform(0.1, 0.5) * np.cos(2 * np.pi * f_r * t + rng.uniform(0, 2 * np.pi)))
    if cond.fault == "cage":  # broadband bearing noise modulated at FTF by the damaged cage
        ftf = 0.5 * (1 - cond.geometry.diameter_ratio) * f_r
        machine = machine * (1.0 + rng.uniform(0.2, 0.6) * np.cos(2 * np.pi * ftf * t + rng.uniform(0, 2 * np.pi)))
    machine *= machine_rms / (np.std(machine) + 1e-12)
    if rng.random() < 0.5:  # random knocks from other machinery (not periodic)
        k = rng.poisson(rng.uniform(0.5, 4.0) * duration_s)
        knocks = np.zeros(n)
        _place(knocks, rng.uniform(0, duration_s, k), machine_rms * rng.uniform(2, 12, k) * rng.choice([-1, 1], k), fs)
        machine += sps.fftconvolve(knocks, h, mode="full")[:n]
    if rng.random() < 0.15:  # looseness / rub: an impact once per shaft turn (hard negative: shaft-order lines)
        kt = _impact_times(rate_hz=f_r * rng.choice([1.0, 0.5, 2.0]), duration_s=duration_s, jitter=0.01, rng=rng)
        knocks = np.zeros(n)
        _place(knocks, kt, machine_rms * rng.uniform(0.5, 4.0) * np.ones(len(kt)), fs)
        machine += sps.fftconvolve(knocks, h, mode="full")[:n]
    sensor = rng.standard_normal(n) * machine_rms * 10 ** (rng.uniform(-25, -3) / 20)
    noise = machine + sensor

    train, low = _fault_component(cond, n, h, rng)
    fault = sps.fftconvolve(train, h, mode="full")[:n] if np.any(train) else train
    if np.any(fault):
        ref_gain = size_gain(cond.defect_size_mm, cond.geometry) if cond.fault != "cage" else 1.0
        p_target = np.mean(noise**2) * 10 ** (cond.snr_db / 10) * ref_gain**2
        scale = math.sqrt(p_target / (np.mean(fault**2) + 1e-30))
        fault = (fault + low) * scale

    # deterministic parts: shaft harmonics, a tone family, hum
    v1_mm_s = float(np.exp(rng.uniform(np.log(0.05), np.log(10.0))))  # 1x velocity RMS
    det = np.zeros(n)
    for k in range(1, 6):
        rel = 1.0 if k == 1 else rng.uniform(0.05, 0.6) / (k - 1)
        f = k * f_r
        if f >= 0.45 * fs:
            break
        acc_peak_g = rel * v1_mm_s * 1e-3 * math.sqrt(2) * 2 * np.pi * f / G
        det += acc_peak_g * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
    if rng.random() < 0.5:  # gear mesh / vane pass with shaft sidebands
        z = int(rng.integers(5, 40))
        fm = z * f_r
        if fm < 0.4 * fs:
            am = 1.0 + rng.uniform(0, 0.5) * np.cos(2 * np.pi * f_r * t)
            det += machine_rms * rng.uniform(0.3, 3.0) * am * np.sin(2 * np.pi * fm * t + rng.uniform(0, 2 * np.pi))
    if rng.random() < 0.3:  # electrical pick-up at the line frequency
        fl = 50.0 if rng.random() < 0.5 else 60.0
        det += machine_rms * rng.uniform(0.1, 1.0) * (np.sin(2 * np.pi * fl * t) + 0.3 * np.sin(4 * np.pi * fl * t))
    if rng.random() < 0.5:  # looseness: many shaft harmonics and half orders (Mais 2002, SKF vibration guide)
        for k in np.arange(0.5, 10.01, 0.5):
            f = k * f_r
            if f >= 0.45 * fs:
                break
            acc_peak_g = rng.uniform(0.02, 0.3) * v1_mm_s * 1e-3 * math.sqrt(2) * 2 * np.pi * f / G / k
            det += acc_peak_g * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
    out = det + noise + fault
    if rng.random() < 0.8:  # the recorder's anti-alias filter (steep, 0.35–0.48 fs) and its noise floor
        sos = sps.butter(int(rng.integers(6, 13)), rng.uniform(0.35, 0.48) * fs, fs=fs, output="sos")
        out = sps.sosfilt(sos, out)
    out = out + rng.standard_normal(n) * np.std(out) * 10 ** (rng.uniform(-70, -35) / 20)
    return out.astype(np.float32)


class SimulatedRecording:
    """A simulated recording that regenerates its samples from a seed on first use.

    It has the attributes of :class:`io.Recording` (``signal``, ``fs_hz``, ``rpm``, ``geometry``,
    ``source``, ``channel``, ``truth``, ``meta``) but keeps only the conditions and the seed, so a
    training set of thousands of recordings costs almost no memory; :meth:`release` drops the
    cached samples again. The same seed always gives the same samples. A pickled copy carries its
    samples, so a benchmark in another process times the edge path, not the simulator.
    """

    def __init__(self, conditions: Conditions, *, seed: int, duration_s: float):
        self.conditions = conditions
        self.seed = int(seed)
        self._duration_s = float(duration_s)
        self.fs_hz = conditions.fs_hz
        self.rpm = conditions.reported_rpm
        self.geometry = conditions.geometry
        self.source = "simulated"
        self.channel = "sim"
        self.truth = conditions.to_dict()
        self.meta: dict = {}
        self._signal: np.ndarray | None = None

    @property
    def signal(self) -> np.ndarray:
        if self._signal is None:
            self._signal = simulate_vibration(conditions=self.conditions, duration_s=self._duration_s,
                                              rng=np.random.default_rng(self.seed))
        return self._signal

    @property
    def duration_s(self) -> float:
        return self._duration_s

    def release(self) -> None:
        self._signal = None

    def __getstate__(self):  # a pickled copy (e.g. sent to a benchmark worker) carries its samples
        state = dict(self.__dict__)
        state["_signal"] = self.signal
        return state
