"""People walking in a simulated cell, and the safety laser scanner that sees them.

A person is a kinematic body of a person's size (a vertical cylinder 0.4 m across and 1.75 m tall
standing on the floor: the stature of a 50th-percentile man, DIN 33402-2; the diameter between
shoulder breadth, about 0.46 m, and chest depth, about 0.28 m) moved along a `PersonPath`
(waypoints, a speed per leg, a dwell at each waypoint) by the task once per control period. People
collide with nothing (they are placed, not simulated), but rays see them.

`SimLaserScanner` is a safety laser scanner scanning a horizontal plane (at shin height, 0.3 m
above the floor, the lowest plane ISO 13855 allows for a 70 mm leg resolution): one PyBullet ray
per angular step over its field of view, once per scan cycle, each range with Gaussian noise;
a scan becomes available ``latency_s`` after it was taken. Defaults in the spirit of a SICK
microScan3 Core (data sheet: 275 deg field of view, 0.39 deg angular resolution, 40 ms scan cycle,
4 m protective field range); latency and noise are stated choices of ours.

`random_paths` draws people's paths from a seeded Generator: passing by, visiting the table's
edge, and walking straight at the robot at 1.6 m/s (ISO 13855's walking speed).

Ground truth (metrics only): `separation_by_link` gives, per robot link, the distance between a
person's body and the link and the speed of the link's closest point.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from officina.sim.bullet import pybullet as p

__all__ = ["PersonPath", "SimPerson", "ScannerSpec", "SimLaserScanner", "random_paths", "approach_path",
           "separation_by_link",
           "PERSON_RADIUS_M", "PERSON_HEIGHT_M"]

PERSON_RADIUS_M = 0.2
PERSON_HEIGHT_M = 1.75


@dataclass(frozen=True)
class PersonPath:
    """Where a person walks: from ``waypoints[0]`` (reached at ``start_s``) through the others,
    at ``speeds_m_s[i]`` on leg i, pausing ``dwell_s[i]`` at waypoint i. Before the start the
    person stands at the first waypoint, after the end at the last one (both far outside the
    cell). ``kind`` says what the path is for (pass, visit, approach)."""

    waypoints: tuple[tuple[float, float], ...]
    speeds_m_s: tuple[float, ...]
    dwell_s: tuple[float, ...]
    start_s: float = 0.0
    kind: str = "pass"

    def __post_init__(self) -> None:
        n = len(self.waypoints)
        if n < 2 or len(self.speeds_m_s) != n - 1 or len(self.dwell_s) != n:
            raise ValueError("a path needs >= 2 waypoints, one speed per leg and one dwell per waypoint")
        if any(not (v > 0) for v in self.speeds_m_s) or any(d < 0 for d in self.dwell_s):
            raise ValueError("path speeds must be > 0 and dwells >= 0")
        # what `at` needs of each leg, computed once: its start, its duration and its velocity
        w = np.asarray(self.waypoints, float)
        legs = []
        for i in range(n - 1):
            leg = w[i + 1] - w[i]
            length = float(np.linalg.norm(leg))
            u = leg / max(length, 1e-12)
            legs.append((w[i], length / self.speeds_m_s[i], u * self.speeds_m_s[i]))
        object.__setattr__(self, "_legs", tuple(legs))

    @property
    def duration_s(self) -> float:
        w = np.asarray(self.waypoints, float)
        legs = np.linalg.norm(np.diff(w, axis=0), axis=1)
        return float(np.sum(legs / np.asarray(self.speeds_m_s)) + sum(self.dwell_s))

    def at(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """Position (x, y) and velocity (vx, vy) at time ``t`` (s)."""
        tau = t - self.start_s
        if tau <= 0:
            return np.array(self.waypoints[0], float), np.zeros(2)
        for i, (start, dur, vel) in enumerate(self._legs):
            if tau < self.dwell_s[i]:
                return start.copy(), np.zeros(2)
            tau -= self.dwell_s[i]
            if tau < dur:
                return start + vel * tau, vel.copy()
            tau -= dur
        return np.array(self.waypoints[-1], float), np.zeros(2)


@dataclass
class SimPerson:
    """A person's body in the world, moved along its path by `move_to`."""

    body_id: int
    name: str
    path: PersonPath
    floor_z: float
    radius_m: float = PERSON_RADIUS_M
    height_m: float = PERSON_HEIGHT_M
    kind: str = "person"
    size: tuple[float, ...] = field(default=())
    mass_kg: float = 0.0
    _cid: int = 0

    @classmethod
    def create(cls, world, name: str, path: PersonPath, floor_z: float, *,
               radius_m: float = PERSON_RADIUS_M, height_m: float = PERSON_HEIGHT_M,
               color=(0.95, 0.55, 0.1, 1.0)) -> "SimPerson":
        cid = world.client_id
        col = p.createCollisionShape(p.GEOM_CYLINDER, radius=radius_m, height=height_m, physicsClientId=cid)
        vis = p.createVisualShape(p.GEOM_CYLINDER, radius=radius_m, length=height_m, rgbaColor=color,
                                  physicsClientId=cid)
        xy, _ = path.at(0.0)
        bid = p.createMultiBody(0.0, col, vis, [float(xy[0]), float(xy[1]), floor_z + height_m / 2],
                                physicsClientId=cid)
        # placed, not simulated: no contact with anything (rays still see the body)
        for other in range(p.getNumBodies(physicsClientId=cid)):
            ob = p.getBodyUniqueId(other, physicsClientId=cid)
            if ob == bid:
                continue
            for link in range(-1, p.getNumJoints(ob, physicsClientId=cid)):
                p.setCollisionFilterPair(bid, ob, -1, link, 0, physicsClientId=cid)
        return cls(bid, name, path, floor_z, radius_m, height_m, size=(radius_m, height_m), _cid=cid)

    def move_to(self, t: float) -> np.ndarray:
        """Place the body where its path is at ``t``; returns (x, y)."""
        xy, _ = self.path.at(t)
        p.resetBasePositionAndOrientation(self.body_id, [float(xy[0]), float(xy[1]),
                                                         self.floor_z + self.height_m / 2], [0, 0, 0, 1],
                                          physicsClientId=self._cid)
        return xy


@dataclass(frozen=True)
class ScannerSpec:
    """A horizontal safety laser scanner: where it is (world, m), where its field of view is
    centred (yaw about world z, rad) and how wide it is, its angular resolution, range, scan
    cycle, latency (from taking a scan to its result being available) and range noise (standard
    deviation, m)."""

    position: tuple[float, float, float]
    yaw_rad: float = 0.0
    fov_rad: float = math.radians(275.0)
    resolution_rad: float = math.radians(0.39)
    range_m: float = 4.0
    scan_period_s: float = 0.04
    latency_s: float = 0.06
    noise_m: float = 0.01

    def __post_init__(self) -> None:
        if not (0 < self.fov_rad <= 2 * math.pi and 0 < self.resolution_rad < self.fov_rad and self.range_m > 0
                and self.scan_period_s > 0 and self.latency_s >= 0 and self.noise_m >= 0):
            raise ValueError("scanner: fov in (0, 2 pi], 0 < resolution < fov, range > 0, scan period > 0, "
                             "latency and noise >= 0")

    @property
    def response_time_s(self) -> float:
        """The oldest a scan can be when it is used: one scan cycle plus the latency."""
        return self.scan_period_s + self.latency_s


class SimLaserScanner:
    """Takes a scan every ``scan_period_s`` (call `update` once per control period) and hands out
    the newest one whose latency has passed (`latest`). Points are world (x, y) of the hits."""

    def __init__(self, world, spec: ScannerSpec, rng: np.random.Generator) -> None:
        self._cid = world.client_id
        self.spec = spec
        self._rng = rng
        n = int(math.floor(spec.fov_rad / spec.resolution_rad)) + 1
        self.angles = spec.yaw_rad - spec.fov_rad / 2 + spec.resolution_rad * np.arange(n)
        o = np.asarray(spec.position, float)
        self._from = np.tile(o, (n, 1))
        self._to = o + spec.range_m * np.stack([np.cos(self.angles), np.sin(self.angles), np.zeros(n)], axis=1)
        self._rays = (self._from.tolist(), self._to.tolist())  # as rayTestBatch takes them
        self._next_t: float | None = None
        self._queue: deque[tuple[float, np.ndarray]] = deque()
        self._latest: tuple[float, np.ndarray] | None = None

    def scan(self) -> np.ndarray:
        """One scan now: the (x, y) of every ray that hit something within range, with noise."""
        hits = p.rayTestBatch(*self._rays, physicsClientId=self._cid)
        frac = np.array([h[2] if h[0] >= 0 else 1.0 for h in hits])
        noise = self._rng.normal(0.0, self.spec.noise_m, len(frac)) if self.spec.noise_m > 0 else 0.0
        r = frac * self.spec.range_m + noise
        hit = frac < 1.0
        a = self.angles[hit]
        o = self._from[0, :2]
        return np.stack([o[0] + r[hit] * np.cos(a), o[1] + r[hit] * np.sin(a)], axis=1)

    def update(self, t: float) -> None:
        if self._next_t is None:
            self._next_t = t
        while t >= self._next_t - 1e-12:
            self._queue.append((self._next_t, self.scan()))
            self._next_t += self.spec.scan_period_s
        while self._queue and self._queue[0][0] + self.spec.latency_s <= t + 1e-12:
            self._latest = self._queue.popleft()

    def latest(self) -> tuple[float, np.ndarray] | None:
        """(time the scan was taken, points (K, 2)) of the newest available scan, or None yet."""
        return self._latest


def _enter_box(p0: np.ndarray, p1: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> float | None:
    """The fraction of the segment p0 -> p1 at which it enters the box [lo, hi] (2-D), or None."""
    t0, t1 = 0.0, 1.0
    d = p1 - p0
    for k in range(2):
        if abs(d[k]) < 1e-12:
            if not (lo[k] <= p0[k] <= hi[k]):
                return None
            continue
        a, b = (lo[k] - p0[k]) / d[k], (hi[k] - p0[k]) / d[k]
        t0, t1 = max(t0, min(a, b)), min(t1, max(a, b))
        if t0 > t1:
            return None
    return t0


TABLE_FOOTPRINT = ((-0.3, -0.6), (1.0, 0.6))  # pick-place's table, (x, y) low and high corners [m]


def _walk_up(start: np.ndarray, target: np.ndarray, c: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Where a person walking from ``start`` toward ``target`` stops: where the walk enters the
    keep-out box, and never closer than 0.5 m to the robot's base ``c``."""
    f = _enter_box(start, target, lo, hi)
    stop = start + (target - start) * (f if f is not None else 1.0)
    if np.linalg.norm(stop - c) < 0.5:
        stop = c + 0.5 * (start - c) / np.linalg.norm(start - c)
    return stop


def approach_path(bearing_rad: float, start_s: float, *, speed_m_s: float = 1.6, dwell_s: float = 2.0,
                  robot_xy=(0.0, 0.0), keep_out=TABLE_FOOTPRINT, outside_m: float = 5.0,
                  radius_m: float = PERSON_RADIUS_M, leave_m_s: float = 1.0) -> PersonPath:
    """A person walking straight at the robot from ``outside_m`` away at ``bearing_rad`` (world
    frame, from the robot), at ``speed_m_s`` from ``start_s``, until the keep-out box stops them;
    they stay ``dwell_s`` and walk back out the way they came."""
    c = np.asarray(robot_xy, float)
    lo = np.asarray(keep_out[0], float) - (radius_m + 0.05)
    hi = np.asarray(keep_out[1], float) + (radius_m + 0.05)
    start = c + outside_m * np.array([math.cos(bearing_rad), math.sin(bearing_rad)])
    stop = _walk_up(start, c, c, lo, hi)
    return PersonPath((tuple(start), tuple(stop), tuple(start)), (speed_m_s, leave_m_s), (0.0, dwell_s, 0.0),
                      start_s, "approach")


def random_paths(rng: np.random.Generator, n: int, *, robot_xy=(0.0, 0.0),
                 keep_out: tuple[tuple[float, float], tuple[float, float]] = TABLE_FOOTPRINT,
                 outside_m: float = 5.0, horizon_s: float = 20.0, kinds=("pass", "visit", "approach"),
                 radius_m: float = PERSON_RADIUS_M, max_speed_m_s: float = 1.6) -> list[PersonPath]:
    """``n`` seeded paths that start and end ``outside_m`` from the robot (outside the cell and the
    scanner's range), starting within ``horizon_s``. ``keep_out`` is the floor area people cannot
    enter (the table's footprint, (x, y) low and high corners); people stop ``radius_m`` + 5 cm
    before it. Kinds, taken in turn: ``pass`` walks a straight line across, 1.2-3 m from the
    robot; ``visit`` walks to a point of the table's edge, stays 1-3 s and leaves; ``approach``
    walks straight at the robot at ``max_speed_m_s`` until the table stops it, stays 1-3 s and
    leaves."""
    c = np.asarray(robot_xy, float)
    lo = np.asarray(keep_out[0], float) - (radius_m + 0.05)
    hi = np.asarray(keep_out[1], float) + (radius_m + 0.05)
    paths = []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        start = float(rng.uniform(0.0, horizon_s))
        b0 = float(rng.uniform(-np.pi, np.pi))
        out0 = c + outside_m * np.array([np.cos(b0), np.sin(b0)])
        b1 = b0 + float(rng.uniform(0.5, 1.5)) * rng.choice([-1.0, 1.0])
        out1 = c + outside_m * np.array([np.cos(b1), np.sin(b1)])
        if kind == "pass":
            off = float(rng.uniform(1.2, 3.0)) * rng.choice([-1.0, 1.0])
            u = np.array([np.cos(b0), np.sin(b0)])
            nrm = np.array([-u[1], u[0]])
            half = math.sqrt(max(outside_m ** 2 - off ** 2, 1.0))
            a, b = c + off * nrm + half * u, c + off * nrm - half * u
            paths.append(PersonPath((tuple(a), tuple(b)), (float(rng.uniform(1.0, max_speed_m_s)),), (0.0, 0.0),
                                    start, kind))
            continue
        if kind == "approach":
            target, speed = c, max_speed_m_s
        else:
            target = np.array([rng.uniform(lo[0], hi[0]), rng.uniform(lo[1], hi[1])])
            speed = float(rng.uniform(0.8, max_speed_m_s))
        stop = _walk_up(out0, target, c, lo, hi)
        dwell = float(rng.uniform(1.0, 3.0))
        paths.append(PersonPath((tuple(out0), tuple(stop), tuple(out1)), (speed, float(rng.uniform(0.8, 1.4))),
                                (0.0, dwell, 0.0), start, kind))
    return paths


def separation_by_link(world, person: SimPerson, robot, max_distance_m: float = 10.0
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ground truth: for each robot link within ``max_distance_m`` of the person: the link index
    (-1: the base), the distance between the body and the link (m) and the speed of the link's
    closest point (m/s), as three arrays."""
    cid = world.client_id
    pts = p.getClosestPoints(person.body_id, robot.body_id, max_distance_m, physicsClientId=cid)
    best: dict[int, tuple[float, tuple]] = {}
    for c in pts:
        link, d = c[4], c[8]
        if link not in best or d < best[link][0]:
            best[link] = (d, c[6])
    if not best:
        return np.zeros(0, int), np.zeros(0), np.zeros(0)
    links = np.fromiter(best, int, len(best))
    dist = np.array([best[k][0] for k in links])
    speed = np.zeros(len(links))
    moving = links >= 0
    if moving.any():
        idx = links[moving].tolist()
        # with forward kinematics: the centres of mass where the last step left them, as the
        # closest points and the velocities are
        states = p.getLinkStates(robot.body_id, idx, computeLinkVelocity=1, computeForwardKinematics=1,
                                 physicsClientId=cid)
        com = np.array([s_[0] for s_ in states])
        vel = np.array([s_[6] for s_ in states])
        om = np.array([s_[7] for s_ in states])
        r = np.array([best[k][1] for k in idx]) - com
        wxr = np.stack([om[:, 1] * r[:, 2] - om[:, 2] * r[:, 1], om[:, 2] * r[:, 0] - om[:, 0] * r[:, 2],
                        om[:, 0] * r[:, 1] - om[:, 1] * r[:, 0]], axis=1)
        speed[moving] = np.sqrt(((vel + wxr) ** 2).sum(axis=1))
    return links, dist, speed
