"""Motion planning: OMPL (RRTConnect by default) in joint space, shortcutting, time-
parameterisation within the robot's limits, and a final check of the timed trajectory.

One plan:

1. the start and the goal(s) are checked (joint limits, collisions with the padding; a goal
   pose becomes several collision-free IK solutions);
2. if the straight joint-space segment from start to a goal is proved free, that is the path;
   otherwise OMPL plans (the state space is the joint box of the limits). The search is lazy:
   the motion validator checks an edge's ends (padding plus 0.1 mm) and configurations along
   it at most ``lazy_spacing_m`` of point motion apart (`CollisionChecker.segment_sampled`),
   which proves nothing; most edges of the trees are never on the path, and proving each as it
   is added (``lazy_spacing_m=0``: `CollisionChecker.segment_valid`) costs most of a plan
   through a narrow opening;
3. the path is shortened with OMPL's PathSimplifier (random vertex reduction, partial
   shortcuts, collapsing close vertices), new edges checked the same way;
4. time-parameterisation: each segment between two waypoints is timed rest to rest as one
   path coordinate with Ruckig, its velocity, acceleration and jerk limits the tightest of
   the joints' over their share of the motion: the trajectory stays on the straight segment,
   within every joint's (scaled) limits;
5. the timed trajectory, sampled at the control period, is proved segment by segment: every
   configuration along it (not only the samples) keeps the padding, stretches halved down to
   ``check_resolution_m`` (`CollisionChecker.check_path`). This is the path's proof. A segment
   that fails it is refused and planned again between its ends (in a box around it, for a
   bounded number of checks; failing that, the whole plan again), sampling twice as finely,
   and proving every edge after ``lazy_repairs`` repairs; the trajectory is timed and checked
   again (the segments that passed are kept: a segment's samples depend only on its ends).

Near a start or goal that is inside the padding but not touching (a grasp on a table), the
configurations within the padding + 5 mm of point motion of it need only be contact-free.

Determinism: OMPL draws the seeds of its random generators from one process-wide seed
generator; each plan re-seeds it from the plan's seed (under a lock, before any of the plan's
OMPL objects exist), so the same scene, start, goal and seed give the same trajectory.
"""

from __future__ import annotations

import enum
import operator
import threading
import time
from dataclasses import dataclass, field

import numpy as np
from ruckig import InputParameter, Result, Ruckig, Trajectory

from officina.controllers.ik import solve_ik
from officina.controllers.model import RobotModel
from officina.controllers.planning.collision import CollisionChecker, Contact, TrajectoryCheck
from officina.controllers.trajectory import JointTrajectory, sample

__all__ = ["MotionPlanner", "PlanResult", "PlanStatus", "PlannerSettings", "PLANNERS", "plan_motion"]

PLANNERS = ("rrtconnect", "rrt", "kpiece", "bkpiece", "lbkpiece", "prm", "bitstar", "aorrtc")

_OMPL_LOCK = threading.Lock()
_RELAX_EXTRA_M = 0.005  # near an endpoint inside the padding: padding + this much point motion
_PLAN_EXTRA_M = 1e-4
# Repairing a segment that failed its proof: OMPL first plans between its ends in a box around it
# (each joint's range widened by the larger of these on both sides), for at most this many checks.
_REPAIR_PAD_RAD = 0.3
_REPAIR_PAD_FRACTION = 0.5
_REPAIR_CHECKS = 2000


class PlanStatus(str, enum.Enum):
    SUCCESS = "success"
    INVALID_INPUT = "invalid_input"  # wrong shape, not finite
    OUT_OF_LIMITS = "out_of_limits"  # start or goal outside the joint limits
    START_IN_COLLISION = "start_in_collision"
    GOAL_IN_COLLISION = "goal_in_collision"
    UNREACHABLE = "unreachable"  # no IK solution for the goal pose
    NO_PLAN = "no_plan"  # nothing found within the time budget
    TRAJECTORY_IN_COLLISION = "trajectory_in_collision"  # the final check failed

    @property
    def bad_input(self) -> bool:
        return self not in (PlanStatus.SUCCESS, PlanStatus.NO_PLAN, PlanStatus.TRAJECTORY_IN_COLLISION)


@dataclass(frozen=True)
class PlannerSettings:
    """``time_budget_s`` of wall time for OMPL; ``planner`` one of `PLANNERS` (``range_rad``
    its step, None: OMPL's default); resolutions in m of point motion: the shortest stretch a
    motion's proof halves to in planning and in the final check (a motion is refused only
    where it comes within that much of the padding); scales in (0, 1] on the velocity,
    acceleration and jerk limits. ``lazy_spacing_m`` > 0: OMPL's edges (search and
    shortcutting) are only sampled, at configurations that far apart in point motion, and the
    final check proves the path (a segment that fails is planned again, `lazy_repairs` times
    sampling twice as finely, then proving every edge); 0: every edge is proved as OMPL adds it."""

    planner: str = "rrtconnect"
    time_budget_s: float = 5.0
    plan_resolution_m: float = 0.0001
    check_resolution_m: float = 0.0001
    velocity_scale: float = 1.0
    acceleration_scale: float = 1.0
    jerk_scale: float = 1.0
    simplify: bool = True
    lazy_spacing_m: float = 0.7
    lazy_repairs: int = 2
    range_rad: float | None = None
    ik_candidates: int = 4
    ik_attempts: int = 24

    def __post_init__(self) -> None:
        if self.planner not in PLANNERS:
            raise ValueError(f"planner {self.planner!r}: expected one of {', '.join(PLANNERS)}")
        if not self.time_budget_s > 0:
            raise ValueError("time_budget_s must be > 0")
        if not (0 < self.check_resolution_m <= self.plan_resolution_m):
            raise ValueError("resolutions: expected 0 < check_resolution_m <= plan_resolution_m")
        if not (self.lazy_spacing_m >= 0 and self.lazy_repairs >= 0):
            raise ValueError("lazy_spacing_m and lazy_repairs must be >= 0")
        for nm in ("velocity_scale", "acceleration_scale", "jerk_scale"):
            if not (0 < getattr(self, nm) <= 1):
                raise ValueError(f"{nm} must be in (0, 1]")


@dataclass(frozen=True)
class PlanResult:
    """``path`` (K, n) the waypoints after shortcutting; ``trajectory`` sampled at ``dt``;
    ``contacts`` say which links touch what when the start or goal is in collision; ``stats``
    has each phase's wall clock (``direct_s``, ``setup_s``, ``solve_s``, ``simplify_s``,
    ``timing_s``, ``final_s``), its CPU time on the planning thread (``direct_cpu_s``, ...) and
    the configurations checked (``*_checks``)."""

    status: PlanStatus
    message: str = ""
    path: np.ndarray | None = None
    trajectory: JointTrajectory | None = None
    planning_time_s: float = 0.0
    direct: bool = False
    contacts: tuple[Contact, ...] = ()
    goal_q: np.ndarray | None = None
    stats: dict = field(default_factory=dict)

    @property
    def success(self) -> bool:
        return self.status == PlanStatus.SUCCESS

    @property
    def path_length_rad(self) -> float:
        if self.path is None or len(self.path) < 2:
            return 0.0
        return float(np.sum(np.linalg.norm(np.diff(self.path, axis=0), axis=1)))


def _clocks() -> tuple[float, float]:
    """Wall clock and this thread's CPU time (s): the CPU time is the plan's own cost when
    other processes share the cores."""
    return time.perf_counter(), time.thread_time()


def _lap(stats: dict, phase: str, since: tuple[float, float]) -> None:
    """``stats[phase + "_s"]`` (wall) and ``stats[phase + "_cpu_s"]`` since ``since``."""
    now = _clocks()
    stats[phase + "_s"] = now[0] - since[0]
    stats[phase + "_cpu_s"] = now[1] - since[1]


def _add_lap(stats: dict, phase: str, since: tuple[float, float]) -> None:
    """As `_lap`, adding to what the phase has taken so far."""
    now = _clocks()
    stats[phase + "_s"] = stats.get(phase + "_s", 0.0) + now[0] - since[0]
    stats[phase + "_cpu_s"] = stats.get(phase + "_cpu_s", 0.0) + now[1] - since[1]


def _contact_text(contacts) -> str:
    shown = [str(c) for c in contacts[:4]]
    more = f" and {len(contacts) - 4} more" if len(contacts) > 4 else ""
    return "; ".join(shown) + more


class MotionPlanner:
    """Plans collision-free joint trajectories for one robot in the checker's scene."""

    def __init__(self, robot: RobotModel, checker: CollisionChecker, dt: float,
                 settings: PlannerSettings | None = None) -> None:
        if not dt > 0:
            raise ValueError("dt must be > 0")
        self.robot = robot
        self.checker = checker
        self.dt = float(dt)
        self.settings = settings or PlannerSettings()
        lim = robot.spec.limits
        self.lower = np.asarray(lim.lower, float)
        self.upper = np.asarray(lim.upper, float)

    # --- checks ---------------------------------------------------------------------------------------
    def _check_q(self, q, what: str) -> tuple[np.ndarray | None, PlanResult | None]:
        n = self.robot.nq
        try:
            q = np.asarray(q, dtype=float).reshape(-1)
        except (TypeError, ValueError):
            return None, PlanResult(PlanStatus.INVALID_INPUT, f"{what}: expected {n} joint positions")
        if q.shape != (n,) or not np.all(np.isfinite(q)):
            return None, PlanResult(PlanStatus.INVALID_INPUT, f"{what}: expected {n} finite joint positions, got {q.size}")
        bad = np.nonzero((q < self.lower - 1e-9) | (q > self.upper + 1e-9))[0]
        if len(bad):
            names = [self.robot.joint_names[i] for i in bad]
            return None, PlanResult(PlanStatus.OUT_OF_LIMITS, f"{what}: {', '.join(names)} outside the joint limits")
        return np.clip(q, self.lower, self.upper), None

    def _touching(self, q) -> list[Contact]:
        """Contacts at q with no padding (the robot really touches something)."""
        return self.checker.contacts(q, -self.checker.padding_m)

    def _endpoint(self, q, what: str, status: PlanStatus) -> PlanResult | None:
        """None when q is free (with the padding, or contact-free and relaxed); else a result."""
        if self.checker.is_valid(q):
            return None
        touching = self._touching(q)
        if not touching:
            return None  # inside the padding only: tolerated near the endpoints
        return PlanResult(status, f"{what} in collision: {_contact_text(touching)}", contacts=tuple(touching))

    # --- validity with the endpoint tolerance ---------------------------------------------------------
    @property
    def _plan_extra(self) -> float:
        """Planning keeps this much more than the padding, so that the final check of the
        trajectory (the same proof on the same segments, with the padding) passes whatever the
        rounding."""
        return _PLAN_EXTRA_M

    def _validity(self, relax: list[np.ndarray]):
        ch = self.checker
        extra = self._plan_extra
        radius = self._relax_radius()
        contact_only = -ch.padding_m

        if not relax:
            return (lambda q: ch.is_valid(q, extra)), None

        def valid(q: np.ndarray) -> bool:
            if ch.is_valid(q, extra):
                return True
            for r in relax:
                if ch.displacement_bound(q, r) <= radius:
                    return ch.is_valid(q, contact_only)
            return False

        return valid, valid

    def segment_free(self, q0: np.ndarray, q1: np.ndarray, relax: list[np.ndarray] = ()) -> bool:
        """Every configuration on the straight joint-space segment keeps the padding plus
        0.1 mm (proved down to the planning resolution)."""
        return self.checker.segment_valid(q0, q1, self.settings.plan_resolution_m, self._plan_extra, list(relax),
                                          self._relax_radius())

    def check_trajectory(self, q_start: np.ndarray, qs: np.ndarray):
        """Check a sampled trajectory from ``q_start`` through ``qs`` (N, n) at the check
        resolution with the padding (relaxed near its two ends when they are inside it)."""
        path = np.vstack([np.asarray(q_start, float)[None, :], np.asarray(qs, float)])
        relax = self._relax_points(path[0], path[-1])
        return self.checker.check_path(path, self.settings.check_resolution_m, relax=relax,
                                       relax_radius_m=self._relax_radius())

    def _relax_radius(self) -> float:
        return self.checker.padding_m + _RELAX_EXTRA_M

    def _relax_points(self, *qs: np.ndarray) -> list[np.ndarray]:
        return [q for q in qs if not self.checker.is_valid(q, self._plan_extra)]

    # --- public API -----------------------------------------------------------------------------------
    def plan(self, q_start, q_goal, seed: int = 0) -> PlanResult:
        """Plan from ``q_start`` to one of the goal configurations ``q_goal`` ((n,) or (K, n))."""
        t0 = time.perf_counter()
        q0, err = self._check_q(q_start, "start")
        if err:
            return err
        goals_raw = np.atleast_2d(np.asarray(q_goal, dtype=float)) if np.ndim(q_goal) else None
        if goals_raw is None or goals_raw.ndim != 2:
            return PlanResult(PlanStatus.INVALID_INPUT, f"goal: expected {self.robot.nq} joint positions")
        goals = []
        for k, g in enumerate(goals_raw):
            gq, err = self._check_q(g, "goal")
            if err:
                return err
            goals.append(gq)
        err = self._endpoint(q0, "start", PlanStatus.START_IN_COLLISION)
        if err:
            return err
        free_goals = []
        first_err = None
        for g in goals:
            e = self._endpoint(g, "goal", PlanStatus.GOAL_IN_COLLISION)
            if e is None:
                free_goals.append(g)
            elif first_err is None:
                first_err = e
        if not free_goals:
            return first_err
        return self._plan(q0, free_goals, seed, t0)

    def plan_to_pose(self, q_start, base_T_goal: np.ndarray, frame: str = "tcp", seed: int = 0) -> PlanResult:
        """Plan to a pose of ``frame`` (4x4 in the base frame): several collision-free IK
        solutions, drawn from a Generator seeded with ``seed``, are the goal configurations."""
        t0 = time.perf_counter()
        q0, err = self._check_q(q_start, "start")
        if err:
            return err
        err = self._endpoint(q0, "start", PlanStatus.START_IN_COLLISION)
        if err:
            return err
        goals, err = self.goal_configurations(base_T_goal, frame, q0, np.random.default_rng(seed))
        if err:
            return err
        return self._plan(q0, goals, seed, t0)

    def goal_configurations(self, base_T_goal: np.ndarray, frame: str, q_seed: np.ndarray,
                            rng: np.random.Generator) -> tuple[list[np.ndarray], PlanResult | None]:
        """Up to ``ik_candidates`` distinct collision-free IK solutions, nearest to ``q_seed``
        first; or an error result (unreachable, or every solution in collision)."""
        T = np.asarray(base_T_goal, dtype=float)
        if T.shape != (4, 4) or not np.all(np.isfinite(T)):
            return [], PlanResult(PlanStatus.INVALID_INPUT, "goal pose: expected a finite 4x4 transform")
        s = self.settings
        found: list[np.ndarray] = []
        colliding: list[Contact] = []
        best_err = np.inf
        seeds = [q_seed, self.robot.spec.home] + [rng.uniform(self.lower, self.upper) for _ in range(s.ik_attempts - 2)]
        for k, q_init in enumerate(seeds):
            r = solve_ik(self.robot, T, frame, q_init, rng=rng, max_restarts=0 if k else 10)
            if not r.success:
                best_err = min(best_err, r.position_error_m)
                continue
            q = np.clip(r.q, self.lower, self.upper)
            if any(np.max(np.abs(q - f)) < 1e-3 for f in found):
                continue
            if not self.checker.is_valid(q):
                touching = self._touching(q)
                if touching:
                    colliding = colliding or touching
                    continue
            found.append(q)
            if len(found) >= s.ik_candidates:
                break
        if not found:
            if colliding:
                return [], PlanResult(PlanStatus.GOAL_IN_COLLISION,
                                      f"goal pose: every IK solution in collision: {_contact_text(colliding)}",
                                      contacts=tuple(colliding))
            return [], PlanResult(PlanStatus.UNREACHABLE,
                                  f"goal pose unreachable: no IK solution within the joint limits "
                                  f"(closest {best_err * 1e3:.1f} mm)")
        found.sort(key=lambda q: float(np.max(np.abs(q - q_seed))))
        return found, None

    # --- the plan ------------------------------------------------------------------------------------
    def _plan(self, q0: np.ndarray, goals: list[np.ndarray], seed: int, t0: float) -> PlanResult:
        relax = self._relax_points(q0, *goals)
        path = None
        direct = False
        t = _clocks()
        n0 = self.checker.n_checks
        for g in goals:
            if self.segment_free(q0, g, relax):
                path = np.array([q0, g])
                direct = True
                break
        stats: dict = {"direct_checks": self.checker.n_checks - n0}
        _lap(stats, "direct", t)
        s = self.settings
        proved = [True]  # per segment of the path: proved while planning (else only sampled)
        if path is None:
            path, status, more = self._ompl(q0, goals, seed, relax, s.time_budget_s, s.lazy_spacing_m)
            stats.update(more)
            if path is None:
                return PlanResult(PlanStatus.NO_PLAN, f"no collision-free path found in {s.time_budget_s:g} s "
                                  f"({s.planner}: {status})", planning_time_s=time.perf_counter() - t0,
                                  stats=stats)
            proved = [s.lazy_spacing_m == 0] * (len(path) - 1)
        for phase in ("timing", "final", "repair"):
            stats[phase + "_s"] = stats[phase + "_cpu_s"] = 0.0
        stats["final_checks"] = stats["repair_checks"] = stats["repairs"] = 0
        refused: set[tuple[tuple, tuple]] = set()  # segments that failed their proof (joint values)
        passed: set[tuple[bytes, bytes]] = set()  # segments whose samples passed the final check
        timed: dict = {}  # each segment's samples, for timing the path again after a repair
        while True:
            t = _clocks()
            traj, ends = self._timed(path, timed)
            _add_lap(stats, "timing", t)
            t = _clocks()
            check = self._check_segments(path, np.vstack([q0, traj.q]), [0] + [e + 1 for e in ends], relax, passed)
            _add_lap(stats, "final", t)
            stats["final_checks"] += check.n_checks
            if check.ok or proved[check.segment]:
                break
            t = _clocks()
            n0 = self.checker.n_checks
            path, proved, status = self._repair(path, proved, check.segment, q0, goals, seed, relax, refused,
                                                stats["repairs"], t0)
            stats["repairs"] += 1
            stats["repair_checks"] += self.checker.n_checks - n0
            _add_lap(stats, "repair", t)
            if path is None:
                return PlanResult(PlanStatus.NO_PLAN, f"no collision-free path found in {s.time_budget_s:g} s "
                                  f"({s.planner}: {status}, repairing a segment that failed its proof)",
                                  planning_time_s=time.perf_counter() - t0, stats=stats)
        elapsed = time.perf_counter() - t0
        if not check.ok:
            return PlanResult(PlanStatus.TRAJECTORY_IN_COLLISION,
                              f"the timed trajectory collides at sample {check.index}: {_contact_text(check.contacts)}",
                              path, traj, elapsed, direct, check.contacts, path[-1], stats)
        return PlanResult(PlanStatus.SUCCESS, "direct" if direct else "planned", path, traj, elapsed, direct, (),
                          path[-1], stats)

    def _repair(self, path: np.ndarray, proved: list[bool], k: int, q0: np.ndarray, goals: list[np.ndarray],
                seed: int, relax: list[np.ndarray], refused: set[tuple[tuple, tuple]], repairs: int, t0: float):
        """Segment k of ``path`` was only sampled and failed its proof: (new path, its segments'
        proved flags, OMPL's status). The segment is refused from now on; OMPL plans between its
        ends in a box around it, for a bounded number of checks; failing that, from the start
        to the goals again. Repairs sample twice as finely as the search before them; after
        `PlannerSettings.lazy_repairs` of them every edge is proved."""
        s = self.settings
        spacing = s.lazy_spacing_m / 2 ** (repairs + 1) if repairs < s.lazy_repairs else 0.0
        a, b = path[k], path[k + 1]
        refused.add((tuple(a.tolist()), tuple(b.tolist())))
        budget = s.time_budget_s - (time.perf_counter() - t0)
        if budget <= 0:
            return None, proved, "time budget spent"
        pad = np.maximum(_REPAIR_PAD_RAD, _REPAIR_PAD_FRACTION * np.abs(b - a))
        box = (np.maximum(np.minimum(a, b) - pad, self.lower), np.minimum(np.maximum(a, b) + pad, self.upper))
        sub, status, _ = self._ompl(a, [b], seed + 1 + repairs, relax, budget, spacing, refused, box,
                                    _REPAIR_CHECKS)
        if sub is not None:
            return (np.vstack([path[:k + 1], sub[1:-1], path[k + 1:]]),
                    proved[:k] + [spacing == 0] * (len(sub) - 1) + proved[k + 1:], status)
        budget = s.time_budget_s - (time.perf_counter() - t0)
        if budget <= 0:
            return None, proved, "time budget spent"
        new, status, _ = self._ompl(q0, goals, seed + 1 + repairs, relax, budget, spacing, refused)
        if new is None:
            return None, proved, status
        return new, [spacing == 0] * (len(new) - 1), status

    def _check_segments(self, path: np.ndarray, qs: np.ndarray, breaks: list[int], relax: list[np.ndarray],
                        passed: set[tuple[bytes, bytes]]) -> TrajectoryCheck:
        """The final check of a timed trajectory: its samples ``qs`` between ``breaks[k]`` and
        ``breaks[k + 1]`` run along the segment from ``path[k]`` to ``path[k + 1]``; each segment's
        samples are proved at the check resolution with the padding (`CollisionChecker.check_path`)
        up to the first that fails, except those of segments in ``passed`` (their ends' bytes:
        a segment's samples depend only on its ends), which this adds to."""
        res = self.settings.check_resolution_m
        n = 0
        for k in range(len(breaks) - 1):
            key = (path[k].tobytes(), path[k + 1].tobytes())
            if key in passed:
                continue
            i, j = breaks[k], breaks[k + 1]
            c = self.checker.check_path(qs[i:j + 1], res, relax=relax, relax_radius_m=self._relax_radius(),
                                        breaks=[0, j - i])
            n += c.n_checks
            if not c.ok:
                return TrajectoryCheck(False, n, i + c.index, c.contacts, res, c.where, k)
            passed.add(key)
        return TrajectoryCheck(True, n, None, (), res)

    def _ompl(self, q0: np.ndarray, goals: list[np.ndarray], seed: int, relax: list[np.ndarray], budget_s: float,
              spacing_m: float = 0.0, refused: set[tuple[tuple, tuple]] = frozenset(),
              box: tuple[np.ndarray, np.ndarray] | None = None, max_checks: int | None = None):
        """OMPL's planner from q0 to one of the goals, then the simplifier: (path, status,
        counters). Edges keep the padding + 0.1 mm: proved (`CollisionChecker.segment_valid`) or,
        with ``spacing_m`` > 0, only sampled that far apart (`CollisionChecker.segment_sampled`;
        the final check proves the path then); the edges in ``refused`` (their ends' joint values,
        either way) are invalid. ``box`` (lower, upper) narrows the joint box searched; the search stops
        after ``budget_s`` or after ``max_checks`` configurations checked."""
        from ompl import base as ob
        from ompl import geometric as og
        from ompl import util as ou

        n = self.robot.nq
        ch = self.checker
        res = self.settings.plan_resolution_m
        extra = self._plan_extra
        valid, _ = self._validity(relax)
        radius = self._relax_radius()
        counters = {"state_checks": 0, "motion_checks": 0}

        values = operator.itemgetter(*range(n))  # a state's joint values as a tuple
        known_valid: set[tuple] = set()  # states found valid (OMPL asks again about tree states)

        def to_np(s) -> np.ndarray:
            return np.array(values(s), dtype=float).reshape(n)

        def state_valid(s) -> bool:
            counters["state_checks"] += 1
            key = values(s)
            if valid(np.array(key)):
                known_valid.add(key)
                return True
            return False

        class _Motion(ob.MotionValidator):
            def checkMotion(self, s1, s2):  # noqa: N802 - OMPL's name
                counters["motion_checks"] += 1
                k1, k2 = values(s1), values(s2)
                # both ends: the simplifier may start an edge at a point of a sampled one
                for key in (k2, k1):
                    if key not in known_valid:
                        if not valid(np.array(key)):
                            return False
                        known_valid.add(key)
                if refused and ((k1, k2) in refused or (k2, k1) in refused):
                    return False
                if spacing_m > 0:
                    return ch.segment_sampled(np.array(k1), np.array(k2), spacing_m, extra, relax, radius)
                return ch.segment_valid(np.array(k1), np.array(k2), res, extra, relax, radius)

        t_setup = _clocks()
        with _OMPL_LOCK:
            level = ou.getLogLevel()
            ou.setLogLevel(ou.LOG_NONE)
            try:
                ou.RNG.setSeed(int(seed) % 2_000_000_000 + 1)
                space = ob.RealVectorStateSpace(n)
                bounds = ob.RealVectorBounds(n)
                lower, upper = (self.lower, self.upper) if box is None else box
                for i in range(n):
                    bounds.setLow(i, float(lower[i]))
                    bounds.setHigh(i, float(upper[i]))
                space.setBounds(bounds)
                si = ob.SpaceInformation(space)
                si.setStateValidityChecker(state_valid)
                mv = _Motion(si)
                si.setMotionValidator(mv)
                si.setup()
                ss = og.SimpleSetup(si)
                start = si.allocState()
                for i in range(n):
                    start[i] = float(q0[i])
                ss.setStartState(start)
                goal_states = ob.GoalStates(si)
                for g in goals:
                    st = si.allocState()
                    for i in range(n):
                        st[i] = float(g[i])
                    goal_states.addState(st)
                ss.setGoal(goal_states)
                ss.setPlanner(self._make_planner(og, si))
                ss.setup()
                _lap(counters, "setup", t_setup)
                t = _clocks()
                c0 = ch.n_checks
                ptc = ob.timedPlannerTerminationCondition(float(budget_s))
                if max_checks is not None:
                    ptc = ob.plannerOrTerminationCondition(
                        ptc, ob.PlannerTerminationCondition(lambda: ch.n_checks - c0 > max_checks))
                status = ss.solve(ptc)
                _lap(counters, "solve", t)
                counters["solve_checks"] = ch.n_checks - c0
                exact = status.getStatus() == ob.PlannerStatus.EXACT_SOLUTION
                if not exact:
                    return None, status.asString(), counters
                p = ss.getSolutionPath()
                if self.settings.simplify:
                    t = _clocks()
                    c0 = ch.n_checks
                    ps = og.PathSimplifier(si)
                    ps.reduceVertices(p)
                    ps.partialShortcutPath(p)
                    ps.reduceVertices(p)
                    ps.collapseCloseVertices(p)
                    _lap(counters, "simplify", t)
                    counters["simplify_checks"] = ch.n_checks - c0
                path = np.array([to_np(p.getState(k)) for k in range(p.getStateCount())])
            finally:
                ou.setLogLevel(level)
        path[0] = q0
        return path, "exact", counters

    def _make_planner(self, og, si):
        name = self.settings.planner
        ctor = {
            "rrtconnect": og.RRTConnect, "rrt": og.RRT, "kpiece": og.KPIECE1, "bkpiece": og.BKPIECE1,
            "lbkpiece": og.LBKPIECE1, "prm": og.PRM, "bitstar": og.BITstar, "aorrtc": og.AORRTC,
        }[name]
        planner = ctor(si)
        if self.settings.range_rad is not None and hasattr(planner, "setRange"):
            planner.setRange(float(self.settings.range_rad))
        return planner

    # --- time ----------------------------------------------------------------------------------------
    def time_parameterize(self, path: np.ndarray) -> JointTrajectory:
        """Rest-to-rest Ruckig segments through every waypoint, phase-synchronised (each segment
        is the straight joint-space line between its waypoints), sampled at ``dt``."""
        return self._timed(path)[0]

    def _timed(self, path: np.ndarray, cache: dict | None = None) -> tuple[JointTrajectory, list[int]]:
        """`time_parameterize`, and the index of each segment's last sample; ``cache`` keeps
        each segment's samples by its ends' bytes (they depend on nothing else).

        Each segment is timed as one path coordinate s from 0 to 1 (q = a + s (b - a)) with
        Ruckig, its limits the tightest of the joints' limits over their share of the motion:
        the trajectory stays on the straight segment (to rounding) and within every joint's
        velocity, acceleration and jerk limits. (Ruckig's phase synchronisation of the joints
        does the same when it can, and falls back to time synchronisation, which leaves the
        segment, when the joints' limits are not in proportion.)"""
        s = self.settings
        lim = self.robot.spec.limits
        vmax = lim.velocity * s.velocity_scale
        amax = lim.acceleration * s.acceleration_scale
        jmax = lim.jerk * s.jerk_scale
        parts = []
        for a, b in zip(path[:-1], path[1:]):
            key = (a.tobytes(), b.tobytes())
            if cache is not None and key in cache:
                parts.append(cache[key])
                continue
            d = np.asarray(b, float) - np.asarray(a, float)
            ad = np.abs(d)
            moving = ad > 1e-12
            if not np.any(moving):
                q = np.asarray(b, float)[None, :]
                parts.append(JointTrajectory(self.dt, np.array([self.dt]), q, np.zeros_like(q), np.zeros_like(q)))
                continue
            otg = Ruckig(1)
            inp = InputParameter(1)
            inp.current_position = [0.0]
            inp.target_position = [1.0]
            inp.max_velocity = [float(np.min(vmax[moving] / ad[moving]))]
            inp.max_acceleration = [float(np.min(amax[moving] / ad[moving]))]
            inp.max_jerk = [float(np.min(jmax[moving] / ad[moving]))]
            traj = Trajectory(1)
            r = otg.calculate(inp, traj)
            if r not in (Result.Working, Result.Finished):
                raise ValueError(f"Ruckig could not time the segment: {r}")
            p = sample(traj, self.dt)
            q = a + p.q * d
            q[-1] = b
            parts.append(JointTrajectory(self.dt, p.t, q, p.qd * d, p.qdd * d))
            if cache is not None:
                cache[key] = parts[-1]
        if not parts:
            q = np.asarray(path[-1], float)[None, :]
            return JointTrajectory(self.dt, np.array([self.dt]), q, np.zeros_like(q), np.zeros_like(q)), [0]
        ends = list(np.cumsum([len(p) for p in parts]) - 1)
        return JointTrajectory.concatenate(parts), [int(e) for e in ends]


def plan_motion(robot: RobotModel, scene, q_from, *, q_to=None, base_T_goal=None, frame: str = "tcp",
                seed: int = 0, dt: float = 0.001, padding_m: float = 0.01,
                settings: PlannerSettings | None = None) -> tuple[PlanResult, dict]:
    """One planning request, as ``officina plan`` makes it: a plan from ``q_from`` to ``q_to``
    (joint positions) or to ``base_T_goal`` (4x4 pose of ``frame``), and its report (the JSON
    of the CLI: success, status, message, planning_time_ms, path, trajectory {t, q} at ``dt``,
    duration_s, min_clearance_m, contacts)."""
    if (q_to is None) == (base_T_goal is None):
        raise ValueError("give exactly one goal: joint positions or a pose")
    checker = CollisionChecker(robot, scene, padding_m=padding_m)
    planner = MotionPlanner(robot, checker, dt, settings)
    if q_to is not None:
        r = planner.plan(q_from, q_to, seed=seed)
    else:
        r = planner.plan_to_pose(q_from, base_T_goal, frame, seed=seed)
    report: dict = {
        "success": r.success,
        "status": r.status.value,
        "message": r.message,
        "planning_time_ms": round(r.planning_time_s * 1e3, 3),
    }
    if r.contacts:
        report["contacts"] = [[c.a, c.b] for c in r.contacts]
    if r.path is not None:
        report["path"] = np.round(r.path, 6).tolist()
    if r.trajectory is not None:
        traj = r.trajectory
        t = np.concatenate([[0.0], traj.t])
        q = np.vstack([np.asarray(r.path[0])[None, :], traj.q])
        report["trajectory"] = {"t": np.round(t, 6).tolist(), "q": np.round(q, 6).tolist()}
        report["duration_s"] = round(traj.duration, 6)
        if r.success:
            d, pair = checker.min_clearance_along(q, settings.check_resolution_m if settings else 0.005)
            report["min_clearance_m"] = None if not np.isfinite(d) else round(d, 6)
            if pair is not None:
                report["min_clearance_between"] = [pair.a, pair.b]
    return r, report
