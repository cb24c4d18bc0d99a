"""Rolling-bearing kinematics: geometry, presets and the characteristic defect frequencies.

The defect frequencies of a rolling-element bearing with a stationary outer ring follow from
rolling without slip (Harris & Kotzalas, *Rolling Bearing Analysis*, 5th ed., 2007, ch. 7;
Randall & Antoni, "Rolling element bearing diagnostics — a tutorial", Mech. Syst. Signal Process.
25 (2011) 485–520, eq. (1)–(4)). With ``n`` rolling elements of diameter ``d``, pitch diameter
``D``, contact angle ``phi`` and shaft rate ``f_r``, and ``r = d cos(phi) / D``::

    FTF  = f_r / 2 * (1 - r)                 fundamental train (cage) frequency
    BPFO = n f_r / 2 * (1 - r)               ball pass frequency, outer race
    BPFI = n f_r / 2 * (1 + r)               ball pass frequency, inner race
    BSF  = D f_r / (2 d) * (1 - r**2)        ball (roller) spin frequency

``BSF`` here is the *spin* frequency of a ball about its own axis. A spall on a ball strikes both
races once per spin revolution, so the impacts of a ball fault repeat at ``2 * BSF``; this is why
the Case Western Reserve University (CWRU) Bearing Data Center tabulates the "rolling element"
multiplier of the 6205-2RS as 4.7135 = 2 × 2.357. The issue's 2.357 is the spin frequency.

All ratios ("orders") are multiples of the shaft rotation frequency, so one model can be trained
on the order axis and serve any speed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from edgeinv.common.errors import ConfigError

INCH_MM = 25.4

#: Fault classes, in the model's output order.
FAULTS = ("none", "outer_race", "inner_race", "ball", "cage")


@dataclass(frozen=True)
class BearingGeometry:
    """Geometry of a radial rolling-element bearing.

    Parameters
    ----------
    name : designation shown to users (``"SKF 6205-2RS"``).
    n_elements : number of rolling elements.
    element_diameter_mm : ball (roller) diameter ``d`` in mm.
    pitch_diameter_mm : pitch-circle diameter ``D`` in mm (centre of the balls).
    contact_angle_deg : contact angle ``phi`` in degrees (0 for deep-groove ball bearings under
        radial load).
    """

    name: str
    n_elements: int
    element_diameter_mm: float
    pitch_diameter_mm: float
    contact_angle_deg: float = 0.0

    def __post_init__(self):
        if not (isinstance(self.n_elements, int) and 3 <= self.n_elements <= 60):
            raise ConfigError(f"bearing {self.name}: n_elements must be an integer in 3..60, got {self.n_elements!r}")
        if not (math.isfinite(self.element_diameter_mm) and self.element_diameter_mm > 0):
            raise ConfigError(f"bearing {self.name}: element_diameter_mm must be > 0, got {self.element_diameter_mm!r}")
        if not (math.isfinite(self.pitch_diameter_mm) and self.pitch_diameter_mm > self.element_diameter_mm):
            raise ConfigError(
                f"bearing {self.name}: pitch_diameter_mm must exceed element_diameter_mm "
                f"({self.element_diameter_mm}), got {self.pitch_diameter_mm!r}"
            )
        if not (0.0 <= self.contact_angle_deg < 60.0):
            raise ConfigError(f"bearing {self.name}: contact_angle_deg must be in [0, 60), got {self.contact_angle_deg!r}")
        if self.n_elements * self.element_diameter_mm >= math.pi * self.pitch_diameter_mm:
            raise ConfigError(
                f"bearing {self.name}: {self.n_elements} elements of {self.element_diameter_mm} mm do not fit "
                f"on a pitch circle of {self.pitch_diameter_mm} mm"
            )

    @property
    def diameter_ratio(self) -> float:
        """``r = d cos(phi) / D`` (dimensionless)."""
        return self.element_diameter_mm * math.cos(math.radians(self.contact_angle_deg)) / self.pitch_diameter_mm

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "n_elements": self.n_elements,
            "element_diameter_mm": self.element_diameter_mm,
            "pitch_diameter_mm": self.pitch_diameter_mm,
            "contact_angle_deg": self.contact_angle_deg,
        }


#: Presets. Both are the bearings of the CWRU Bearing Data Center test rig (its "apparatus and
#: procedures" page gives the dimensions in inches): drive end SKF 6205-2RS JEM (ball 0.3126 in,
#: pitch 1.537 in, 9 balls), fan end SKF 6203-2RS JEM (ball 0.2656 in, pitch 1.122 in, 8 balls).
#: The tests check the multipliers CWRU publishes for both (6205: 5.4152, 3.5848, 0.39828, 4.7135;
#: 6203: 4.9469, 3.0530, 0.3817, 3.9874 for inner, outer, cage, rolling element = 2 x BSF).
PRESETS: dict[str, BearingGeometry] = {
    "6205-2rs": BearingGeometry("SKF 6205-2RS", 9, 0.3126 * INCH_MM, 1.537 * INCH_MM, 0.0),
    "6203-2rs": BearingGeometry("SKF 6203-2RS", 8, 0.2656 * INCH_MM, 1.122 * INCH_MM, 0.0),
}
DEFAULT_PRESET = "6205-2rs"

_ALIASES = {"6205": "6205-2rs", "skf6205": "6205-2rs", "skf6205-2rs": "6205-2rs", "6205-2rsjem": "6205-2rs",
            "6203": "6203-2rs", "skf6203": "6203-2rs", "skf6203-2rs": "6203-2rs", "6203-2rsjem": "6203-2rs"}

_CUSTOM_KEYS = {"n": "n_elements", "d": "element_diameter_mm", "pd": "pitch_diameter_mm", "D": "pitch_diameter_mm",
                "angle": "contact_angle_deg", "phi": "contact_angle_deg"}


def get_geometry(spec: "str | BearingGeometry | dict | None" = None) -> BearingGeometry:
    """Resolve a preset name, a custom spec string, a dict or a geometry into a :class:`BearingGeometry`.

    Parameters
    ----------
    spec : ``None`` (the default preset), a preset name (``"6205-2rs"``, ``"SKF 6205"``...), a
        custom spec ``"n=9,d=7.94,D=39.04,angle=0"`` (element count, element and pitch diameters in
        mm, contact angle in degrees), a dict with the dataclass field names, or a geometry.
    """
    if spec is None:
        return PRESETS[DEFAULT_PRESET]
    if isinstance(spec, BearingGeometry):
        return spec
    if isinstance(spec, dict):
        try:
            return BearingGeometry(
                name=str(spec.get("name", "custom")), n_elements=int(spec["n_elements"]),
                element_diameter_mm=float(spec["element_diameter_mm"]),
                pitch_diameter_mm=float(spec["pitch_diameter_mm"]),
                contact_angle_deg=float(spec.get("contact_angle_deg", 0.0)))
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"bearing geometry dict needs n_elements, element_diameter_mm, pitch_diameter_mm: {exc}") from None
    text = str(spec).strip()
    if "=" in text:
        return _parse_custom(text)
    key = re.sub(r"[\s_]+", "", text.lower())
    key = _ALIASES.get(key, key)
    if key not in PRESETS:
        raise ConfigError(
            f"unknown bearing {spec!r}; presets: {', '.join(PRESETS)}; or a custom geometry like "
            f"'n=9,d=7.94,D=39.04,angle=0' (mm, degrees)"
        )
    return PRESETS[key]


def _parse_custom(text: str) -> BearingGeometry:
    values: dict = {}
    for part in re.split(r"[,;/]\s*", text.removeprefix("custom:").strip()):
        if not part:
            continue
        k, _, v = part.partition("=")
        field = _CUSTOM_KEYS.get(k.strip()) or _CUSTOM_KEYS.get(k.strip().lower())
        if field is None:
            raise ConfigError(f"custom bearing: unknown key {k.strip()!r}; use n, d, D, angle (e.g. 'n=9,d=7.94,D=39.04,angle=0')")
        try:
            values[field] = int(v) if field == "n_elements" else float(v)
        except ValueError:
            raise ConfigError(f"custom bearing: {k.strip()}={v!r} is not a number") from None
    missing = {"n_elements", "element_diameter_mm", "pitch_diameter_mm"} - set(values)
    if missing:
        raise ConfigError(f"custom bearing {text!r} lacks {', '.join(sorted(missing))} (give n, d and D)")
    return BearingGeometry(name=f"custom (n={values['n_elements']}, d={values['element_diameter_mm']:g} mm, "
                                f"D={values['pitch_diameter_mm']:g} mm)", **values)


def defect_orders(*, geometry: BearingGeometry) -> dict[str, float]:
    """Defect frequencies as multiples of the shaft rate (orders).

    Returns ``{"bpfo", "bpfi", "bsf", "ftf"}``; see the module docstring for the formulas
    (Randall & Antoni 2011, eq. 1–4). ``bsf`` is the ball *spin* frequency.
    """
    r = geometry.diameter_ratio
    n = geometry.n_elements
    return {
        "bpfo": n / 2.0 * (1.0 - r),
        "bpfi": n / 2.0 * (1.0 + r),
        "bsf": geometry.pitch_diameter_mm / (2.0 * geometry.element_diameter_mm) * (1.0 - r * r),
        "ftf": 0.5 * (1.0 - r),
    }


def defect_frequencies_hz(*, geometry: BearingGeometry, shaft_hz: float) -> dict[str, float]:
    """Defect frequencies in Hz at shaft rate ``shaft_hz`` (Hz = rpm / 60)."""
    if not (math.isfinite(shaft_hz) and shaft_hz > 0):
        raise ConfigError(f"shaft_hz must be > 0, got {shaft_hz!r}")
    return {k: v * shaft_hz for k, v in defect_orders(geometry=geometry).items()}


def impact_order(*, fault: str, geometry: BearingGeometry) -> float:
    """Order at which a localized fault's impacts repeat (0 for a healthy bearing).

    outer race: BPFO; inner race: BPFI; ball: 2 x BSF (the spall meets both races per spin turn);
    cage: FTF (a damaged pocket disturbs its ball once per cage turn).
    """
    o = defect_orders(geometry=geometry)
    table = {"none": 0.0, "outer_race": o["bpfo"], "inner_race": o["bpfi"], "ball": 2.0 * o["bsf"], "cage": o["ftf"]}
    if fault not in table:
        raise ConfigError(f"fault must be one of {', '.join(FAULTS)}; got {fault!r}")
    return table[fault]


def rolling_speed_m_s(*, geometry: BearingGeometry, shaft_hz: float) -> float:
    """Surface speed at which a rolling element passes over a race defect (m/s).

    With rolling without slip the contact speed is the same at the outer race, the inner race and
    on the ball surface: ``v = pi f_r D (1 - r**2) / 2`` (from the cage speed times the outer-race
    radius, ``2 pi FTF (D + d)/2``). The entry-to-exit time of a spall of length ``L`` is then
    ``L / v`` (Sawalhi & Randall, "Vibration response of spalled rolling element bearings",
    Mech. Syst. Signal Process. 25 (2011) 846–870, section 2).
    """
    r = geometry.diameter_ratio
    return math.pi * shaft_hz * geometry.pitch_diameter_mm * 1e-3 * (1.0 - r * r) / 2.0


def entry_exit_delay_s(*, defect_size_mm: float, geometry: BearingGeometry, shaft_hz: float) -> float:
    """Time between the entry (de-stressing) and exit (impact) events of a spall (s); Sawalhi & Randall 2011."""
    return float(defect_size_mm) * 1e-3 / rolling_speed_m_s(geometry=geometry, shaft_hz=shaft_hz)


def ball_drop_depth_mm(*, defect_size_mm: float, geometry: BearingGeometry) -> float:
    """How deep a ball's centre sinks into a spall of length ``L`` (chord geometry, mm).

    ``h = d/2 - sqrt((d/2)**2 - (L/2)**2)`` for ``L < d``; used to scale the exit impact.
    """
    rad = geometry.element_diameter_mm / 2.0
    half = min(float(defect_size_mm) / 2.0, rad)
    return rad - math.sqrt(rad * rad - half * half)


def race_radius_mm(*, geometry: BearingGeometry, race: str) -> float:
    """Radius of the raceway contact circle (mm): ``(D + d cos a) / 2`` outer, ``(D - d cos a) / 2`` inner, ``d / 2``
    for a ball.

    A spall of arc length ``L`` spans ``L / radius`` radians of its race (the 6205's 15.55 / 23.49 mm turn the
    HIT-SM labels 2, 5, 8 degrees into 0.54 / 1.36 / 2.17 mm inner and 0.82 / 2.05 / 3.28 mm outer)."""
    dc = geometry.element_diameter_mm * math.cos(math.radians(geometry.contact_angle_deg))
    if race == "outer_race":
        return (geometry.pitch_diameter_mm + dc) / 2.0
    if race == "inner_race":
        return (geometry.pitch_diameter_mm - dc) / 2.0
    if race == "ball":  # a ball spall's arc on the ball's own surface
        return geometry.element_diameter_mm / 2.0
    raise ConfigError(f"race must be outer_race, inner_race or ball, got {race!r}")
