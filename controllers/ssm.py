"""Speed and separation monitoring (SSM): the protective separation distance and the speed scaling.

The model of ISO/TS 15066:2016 clause 5.5.4 (carried into ISO 10218-2:2025): while a robot moves,
the separation between it and a person must stay at or above the protective separation distance

    S_p = S_h + S_r + S_s + C + Z_d + Z_r

* ``S_h = v_h (T_r + T_s)``: how far the person walks while the robot reacts and stops, at the
  person's speed ``v_h`` (1.6 m/s, the walking approach speed of ISO 13855:2010 clause 6.2);
* ``S_r = v_r T_r``: how far the robot travels toward the person during the reaction time
  ``T_r`` (sensor response + the monitor's cycle + the robot's reaction to a stop signal);
* ``S_s``: how far the robot travels while it brakes (its stopping distance from ``v_r``);
* ``C``: the intrusion distance, how far a body part can reach past the detection zone unseen
  (ISO 13855 for a horizontal scan plane at height H: C = 1200 mm - 0.4 H, at least 850 mm);
* ``Z_d``, ``Z_r``: the position uncertainty of the person (the sensor's measurement error) and
  of the robot (its position measurement).

All figures in SI units (m, s, m/s, m/s^2). The robot's stop is modelled as a delay ``t_d``
followed by a constant deceleration ``a`` (``T_s(v) = t_d + v/a``, ``S_s(v) = v t_d + v^2/(2a)``),
fitted to the stopping time and distance the robot's maker publishes at one speed
(`StopModel.from_published`); the robot files state the figures and their sources.

The speed scaling (`SpeedScaler`) is the monitor's law: full speed while the separation ``d`` is
at least ``S_p(v_full) + margin``, linearly slower below, a protective stop at
``S_p(0) + margin``, and a resume once ``d`` has been back above the stop distance plus a
hysteresis for a dwell time. ``S_p`` is convex in ``v``, so the linear ramp keeps
``S_p(scale * v_full) + margin <= d`` everywhere on it.

`SeparationMonitor` is the safety function around it: the points a safety sensor reports (a
laser scanner's hits, world x-y at its scan plane) and the robot's measured joint state in, the
speed override out. The robot is a chain of segments between its joint origins and its tcp, of
radius ``link_radius_m``; the separation is taken in the floor plane (a scanner sees the plane it
scans; projecting the robot onto it can only shorten the distance, so it errs on the safe side),
and the robot's speed is the largest speed of any of its chain points, not only its component
toward the person (again on the safe side of the standard's "speed toward the person").

Pure functions and small state: no simulator, no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["StopModel", "SsmParams", "SpTerms", "protective_separation", "max_safe_speed", "SpeedScaler",
           "intrusion_distance_iso13855", "protective_separation_array", "robot_points", "planar_separation",
           "point_separation_xy", "SeparationMonitor"]


def intrusion_distance_iso13855(scan_height_m: float) -> float:
    """C for a detection plane parallel to the approach at height H above the floor (ISO 13855
    clause 6.5: C = 1200 mm - 0.4 H, not below 850 mm; H between 0 and 1 m)."""
    if not (0.0 <= scan_height_m <= 1.0):
        raise ValueError(f"scan height must be within 0-1 m for ISO 13855's formula, got {scan_height_m}")
    return max(0.85, 1.2 - 0.4 * scan_height_m)


@dataclass(frozen=True)
class StopModel:
    """The robot's stop from a speed ``v`` (m/s): ``delay_s`` without deceleration, then
    ``deceleration_m_s2`` until rest."""

    delay_s: float
    deceleration_m_s2: float

    def __post_init__(self) -> None:
        if not (self.delay_s >= 0 and self.deceleration_m_s2 > 0):
            raise ValueError(f"stop model needs delay_s >= 0 and deceleration_m_s2 > 0, got "
                             f"{self.delay_s}, {self.deceleration_m_s2}")

    @classmethod
    def from_published(cls, speed_m_s: float, stop_time_s: float, stop_distance_m: float) -> "StopModel":
        """Fit the model to one published stop (time and distance from ``speed_m_s``).

        With ``S < v T`` the delay-then-constant-deceleration model through both figures has
        ``a = v^2 / (2 (v T - S))`` and ``t_d = T - v/a``; when the published distance is below
        ``v T / 2`` (the robot brakes harder at first) the delay is taken as 0 and ``a = v / T``,
        which keeps the published time and overestimates the distance (conservative)."""
        v, T, S = float(speed_m_s), float(stop_time_s), float(stop_distance_m)
        if not (v > 0 and T > 0 and S > 0):
            raise ValueError(f"published stop needs positive speed, time and distance, got {v}, {T}, {S}")
        if S >= v * T:
            raise ValueError(f"published stop distance {S} m is not below speed x time {v * T:.3f} m")
        if S <= v * T / 2:
            return cls(0.0, v / T)
        a = v * v / (2.0 * (v * T - S))
        return cls(T - v / a, a)

    def time(self, v: float) -> float:
        """T_s(v) (s)."""
        v = max(0.0, float(v))
        return self.delay_s + v / self.deceleration_m_s2

    def distance(self, v: float) -> float:
        """S_s(v) (m)."""
        v = max(0.0, float(v))
        return v * self.delay_s + v * v / (2.0 * self.deceleration_m_s2)


@dataclass(frozen=True)
class SsmParams:
    """The inputs of S_p that do not change from one instant to the next."""

    stop: StopModel
    reaction_time_s: float  # T_r: sensor response + monitor cycle + robot reaction
    human_speed_m_s: float = 1.6  # v_h (ISO 13855 walking speed)
    intrusion_m: float = 0.85  # C
    sensor_uncertainty_m: float = 0.0  # Z_d
    robot_uncertainty_m: float = 0.0  # Z_r

    def __post_init__(self) -> None:
        for nm in ("reaction_time_s", "human_speed_m_s", "intrusion_m", "sensor_uncertainty_m",
                   "robot_uncertainty_m"):
            v = getattr(self, nm)
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"{nm} must be a finite number >= 0, got {v}")


@dataclass(frozen=True)
class SpTerms:
    """S_p and its terms (m), for a robot speed toward the person ``v_r`` (m/s)."""

    v_r: float
    s_h: float
    s_r: float
    s_s: float
    c: float
    z_d: float
    z_r: float

    @property
    def total(self) -> float:
        return self.s_h + self.s_r + self.s_s + self.c + self.z_d + self.z_r


def _speed(v: float) -> float:
    """A speed toward the person (m/s): negative (away) as 0, not a number as ``inf`` (unknown:
    the worst case, not a robot at rest)."""
    v = float(v)
    return math.inf if v != v else max(0.0, v)


def protective_separation(v_r: float, p: SsmParams, v_h: float | None = None) -> SpTerms:
    """S_p for the robot moving toward the person at ``v_r`` (m/s; negative, away: taken as 0; not
    a number: ``inf``) and the person approaching at ``v_h`` (default: ``p.human_speed_m_s``),
    constant over T_r + T_s."""
    v = _speed(v_r)
    vh = p.human_speed_m_s if v_h is None else _speed(v_h)
    T_r = p.reaction_time_s
    # an infinite speed times a zero time (no delay, no reaction time) is an unknown distance: inf
    s_h, s_r, s_s = (math.inf if x != x else x for x in (vh * (T_r + p.stop.time(v)), v * T_r, p.stop.distance(v)))
    return SpTerms(v, s_h, s_r, s_s, p.intrusion_m, p.sensor_uncertainty_m, p.robot_uncertainty_m)


def protective_separation_array(v_r: np.ndarray, p: SsmParams) -> np.ndarray:
    """S_p (m) for an array of robot speeds toward the person (m/s), the person at ``v_h`` (a speed
    that is not a number: ``inf``, as in `protective_separation`)."""
    v = np.asarray(v_r, float)
    v = np.where(np.isnan(v), np.inf, np.maximum(v, 0.0))
    a, t_d, T_r = p.stop.deceleration_m_s2, p.stop.delay_s, p.reaction_time_s
    with np.errstate(invalid="ignore"):
        sp = (p.human_speed_m_s * (T_r + t_d + v / a) + v * T_r + v * t_d + v * v / (2.0 * a)
              + p.intrusion_m + p.sensor_uncertainty_m + p.robot_uncertainty_m)
    return np.where(np.isnan(sp), np.inf, sp)  # an infinite speed times a zero time: inf


def max_safe_speed(d: float, p: SsmParams, margin_m: float = 0.0) -> float:
    """The largest robot speed toward the person with ``S_p(v) + margin <= d`` (m/s); 0 when even a
    robot at rest is too close. S_p is quadratic in v:
    ``v^2/(2a) + v (t_d + T_r + v_h/a) + [v_h (T_r + t_d) + C + Z_d + Z_r + margin - d] = 0``."""
    a = p.stop.deceleration_m_s2
    A = 1.0 / (2.0 * a)
    B = p.stop.delay_s + p.reaction_time_s + p.human_speed_m_s / a
    C0 = protective_separation(0.0, p).total + margin_m - float(d)
    if C0 >= 0:
        return 0.0
    return (-B + math.sqrt(B * B - 4.0 * A * C0)) / (2.0 * A)


class SpeedScaler:
    """The monitor's speed scaling: ``update(t, d, v_r)`` -> a speed override in [0, 1].

    ``d``: the separation the sensor gives (m; ``inf`` with nobody seen); ``v_r``: the robot's
    measured speed toward the person (m/s). With ``v_full`` the fastest the robot's program moves,
    the override is 1 at or above ``S_p(v_full) + margin``, falls linearly to 0 at
    ``S_p(0) + margin`` (a protective stop) and is 0 as well whenever the measured speed makes
    ``S_p(v_r) + margin > d``. After a stop the robot resumes only once ``d`` has stayed at or
    above the stop distance plus ``hysteresis_m`` for ``resume_after_s``. ``stops`` counts the
    protective stops.
    """

    def __init__(self, params: SsmParams, v_full_m_s: float, margin_m: float = 0.1,
                 hysteresis_m: float = 0.1, resume_after_s: float = 0.5) -> None:
        if not (v_full_m_s > 0 and margin_m >= 0 and hysteresis_m >= 0 and resume_after_s >= 0):
            raise ValueError("speed scaler needs v_full_m_s > 0 and margin_m, hysteresis_m, resume_after_s >= 0")
        self.params = params
        self.v_full = float(v_full_m_s)
        self.margin = float(margin_m)
        self.hysteresis = float(hysteresis_m)
        self.resume_after = float(resume_after_s)
        self.d_stop = protective_separation(0.0, params).total + self.margin
        self.d_full = protective_separation(self.v_full, params).total + self.margin
        self.stopped = False
        self.stops = 0
        self._clear_since: float | None = None
        self.scale = 1.0

    def ramp(self, d: float) -> float:
        """The override of the linear law alone, for a separation ``d`` (not a number: 0)."""
        if d >= self.d_full:
            return 1.0
        if not d > self.d_stop:
            return 0.0
        return (d - self.d_stop) / (self.d_full - self.d_stop)

    def update(self, t: float, d: float, v_r: float) -> float:
        s = self.ramp(d)
        if s > 0.0 and protective_separation(v_r, self.params).total + self.margin > d:
            s = 0.0
        if s == 0.0:
            if not self.stopped:
                self.stops += 1
            self.stopped = True
            self._clear_since = None
        elif self.stopped:
            if d < self.d_stop + self.hysteresis:
                self._clear_since = None
                s = 0.0
            else:
                if self._clear_since is None:
                    self._clear_since = t
                if t - self._clear_since < self.resume_after:
                    s = 0.0
                else:
                    self.stopped = False
        self.scale = s
        return s


def robot_points(model, q, qd, world_T_base=None) -> tuple[np.ndarray, np.ndarray]:
    """The robot's chain in the world frame: the base origin, every joint origin and the tcp
    (K, 3), and their linear velocities (K, 3), from joint positions and velocities (joint order).
    ``model``: an `officina.controllers.model.RobotModel`."""
    import pinocchio as pin

    m, d = model.model, model.data
    qm = model._to_model(np.asarray(q, float))
    vm = np.zeros(m.nv)
    vm[model._v_index] = np.asarray(qd, float)
    pin.forwardKinematics(m, d, qm, vm)
    lwa = pin.ReferenceFrame.LOCAL_WORLD_ALIGNED
    P = np.zeros((m.njoints + 1, 3))  # row 0: the base origin, at rest; the last row: the tcp
    V = np.zeros((m.njoints + 1, 3))
    oMi = d.oMi
    for j in range(1, m.njoints):
        P[j] = oMi[j].translation
        V[j] = pin.getVelocity(m, d, j, lwa).linear
    fid = model.frame_id("tcp")
    P[-1] = pin.updateFramePlacement(m, d, fid).translation
    V[-1] = pin.getFrameVelocity(m, d, fid, lwa).linear
    if world_T_base is not None:
        T = np.asarray(world_T_base, float)
        P = P @ T[:3, :3].T + T[:3, 3]
        V = V @ T[:3, :3].T
    return P, V


def planar_separation(points_xy: np.ndarray, chain: np.ndarray, radius_m: float = 0.0) -> float:
    """Smallest distance in the x-y plane between ``points_xy`` (K, 2) and the segments joining
    the consecutive points of ``chain`` (M, >=2), less ``radius_m``; inf without points."""
    pts = np.asarray(points_xy, float).reshape(-1, 2)
    if len(pts) == 0:
        return math.inf
    c = np.asarray(chain, float)[:, :2]
    a, b = c[:-1], c[1:]
    ab = b - a
    L2 = np.maximum(np.einsum("ij,ij->i", ab, ab), 1e-18)
    ap = pts[:, None, :] - a[None, :, :]
    u = np.clip(np.einsum("kij,ij->ki", ap, ab) / L2, 0.0, 1.0)
    closest = a[None, :, :] + u[..., None] * ab[None, :, :]
    dist = np.linalg.norm(pts[:, None, :] - closest, axis=2)
    return float(dist.min()) - radius_m


def point_separation_xy(x: float, y: float, chain_xy: list, radius_m: float = 0.0) -> float:
    """`planar_separation` for the one point (x, y), on floats: the smallest x-y distance between
    it and the segments joining the consecutive points of ``chain_xy`` (a list of (x, y) pairs),
    less ``radius_m``. The same operations in the same order, so the same value; for one point
    numpy's cost per call is most of the work."""
    best = math.inf
    for (ax, ay), (bx, by) in zip(chain_xy, chain_xy[1:]):
        abx, aby = bx - ax, by - ay
        apx, apy = x - ax, y - ay
        u = min(max((apx * abx + apy * aby) / max(abx * abx + aby * aby, 1e-18), 0.0), 1.0)
        dx, dy = x - (ax + u * abx), y - (ay + u * aby)
        best = min(best, math.sqrt(dx * dx + dy * dy))
    return best - radius_m


class SeparationMonitor:
    """Speed and separation monitoring as a safety function: ``update(t, points_xy, q, qd)`` ->
    the speed override. ``points_xy`` None means the sensor has no scan yet: the override is 0
    (the safety output stays off) without counting a stop. ``last`` holds the latest separation
    (m), robot speed (m/s), S_p (m) and override."""

    def __init__(self, model, scaler: SpeedScaler, world_T_base=None, link_radius_m: float = 0.1) -> None:
        if not (link_radius_m >= 0):
            raise ValueError("link_radius_m must be >= 0")
        self.model = model
        self.scaler = scaler
        self.world_T_base = None if world_T_base is None else np.asarray(world_T_base, float)
        self.link_radius_m = float(link_radius_m)
        self.points: np.ndarray | None = None  # the robot's chain at the last update (world, m)
        self.last: dict[str, float] = {"separation_m": math.inf, "speed_m_s": 0.0,
                                       "sp_m": protective_separation(0.0, scaler.params).total, "override": 0.0}

    def update(self, t: float, points_xy, q, qd) -> float:
        P, V = robot_points(self.model, q, qd, self.world_T_base)
        self.points = P
        v_r = float(np.linalg.norm(V, axis=1).max())
        if points_xy is None:
            s, d = 0.0, math.inf
        else:
            d = planar_separation(points_xy, P, self.link_radius_m)
            s = self.scaler.update(t, d, v_r)
        self.last = {"separation_m": d, "speed_m_s": v_r,
                     "sp_m": protective_separation(v_r, self.scaler.params).total, "override": s}
        return s
