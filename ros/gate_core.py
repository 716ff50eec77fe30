"""The safety gate's logic, without ROS: arming, e-stop, watchdog, the controllers' safety filter
for streamed position commands, and a check of whole trajectories before they are forwarded.

The gate keeps time by the stamps of ``/joint_states`` (the clock in use: wall time on hardware,
simulation time in fast/lockstep pacing), so it behaves the same in every pacing mode.

* Disarmed (the initial state): nothing is forwarded; every command is refused (``not_armed``).
* Streamed position commands (``/officina/commands``) pass `SafetyFilter.filter_position`
  (position, velocity, acceleration limits, workspace box; malformed -> hold) one by one at
  ``rate_hz``; the filtered command is forwarded. The filter limits each command as one period,
  so the gate forwards at most one position command per period of the arm's clock, that is per
  ``/joint_states`` message whose stamp is newer than the last: a command that comes when its
  period's command has gone out waits for the next state, and a newer command replaces it there
  (counted in ``replaced_commands``): as in one process, where the last command of a period is
  the one the arm gets. A backlog that arrives at once (the gate's or the client's process was
  descheduled) is then not forwarded at once, which a controller that takes the newest command
  (ros2_control's forward controller) would execute as several periods' worth in one: it goes out
  one command per state taken meanwhile, then as its newest command, which the filter brings the
  arm to within its limits. The arm's ``/joint_states`` must therefore come at least at the
  stream's rate (a ros2_control joint_state_broadcaster publishes at the controller manager's
  rate by default), and armed, 50 states in a row whose stamps do not advance (`STALE_STATES`)
  disarm it.
* A trajectory (``/officina/joint_trajectory``) is checked as a whole: the joint_trajectory_controller
  rules (`validate_trajectory`), then sampled every ``1/rate_hz`` from the measured state the way the
  controller will execute it: positions within the limits, velocities and accelerations within the
  scaled limits (with ``tolerance``), tcp inside the workspace box. Any violation refuses it whole;
  an accepted trajectory is forwarded unchanged.
* Watchdog: armed and streaming, no command for ``watchdog_periods`` periods -> braking hold
  from the last position command forwarded with the arm's measured velocity (streamed until the
  arm is at rest): the reference, not the measured joints, which carry the offset of any
  controller chained after the forward controller (an admittance controller). Trajectories are complete motions: no watchdog.
* E-stop / disarm / the arm's state lost (`state_lost`): forwarding stops at once; a hold is
  commanded from the last state (streamed braking hold for the forward controller, a braking
  trajectory for the trajectory controller); e-stop also disarms and arming is refused until the
  e-stop is released. The node reads the e-stop topic twice, with a reliable and a best-effort
  reader (`estop_from`): a true on either engages at once; a release is monotone: a false
  releases once the last message on every reader says false and no reader that has a publisher
  still owes the copy of a true another reader took (a true taken after the false voids it; an
  owed copy is waited for ``ESTOP_COPY_WAIT_S`` of the node's live time, a stall of its executor
  not counted), so late copies of the trues of a fast true/false burst cannot re-engage the gate
  after a release. A true a reader took holds until that reader takes a false: a best-effort
  writer's false (which the reliable reader never takes) does not release an e-stop that a
  reliable writer engaged, until a reliable writer says false (the engaging writer's leaving
  does not release it either).
* A FollowJointTrajectory goal that a trajectory on the topic replaced, ending at the controller
  after it (its acceptance was on its way, or the cancel found it running: the controller holds
  where a cancel finds it), has the topic's trajectory commanded again, last
  (`after_stopped_goal`): the newest command wins.

The safety filter is used through its public API only: each call returns the command with the
events it caused (`Filtered`), which the gate counts (``safety_counts``).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace
from typing import Callable, Mapping

import numpy as np

from officina.controllers.safety import SafetyConfig, SafetyEvent, SafetyFilter, as_command
from officina.interfaces import JointLimits, JointState
from officina.ros.jtc import (
    JointTrajectoryFollower, JtcConfig, TrajectoryMsg, TrajectoryPointMsg, TrajectoryRejected,
    validate_trajectory,
)

__all__ = ["GateConfig", "GateCore", "Forward", "braking_trajectory", "check_trajectory", "ESTOP_READERS",
           "ESTOP_COPY_WAIT_S", "ESTOP_TICK_GAP_S", "StreamRate"]

# The node's two readers of the e-stop topic. A best-effort reader matches reliable and
# best-effort writers, a reliable reader only reliable ones: a reliable writer's message reaches
# both, a best-effort writer's only the best-effort reader.
ESTOP_READERS = ("reliable", "best_effort")
ESTOP_COPY_WAIT_S = 0.25  # how long a release waits for a reader's copy of a true [s]
# The longest gap between two looks at a waiting release (`GateCore.estop_tick`) that counts in
# full towards ESTOP_COPY_WAIT_S; a longer one is a stall of the node's executor, over which a
# copy may have arrived and wait in its reader's queue: it counts as this much.
ESTOP_TICK_GAP_S = 0.05


@dataclass(frozen=True)
class GateConfig:
    rate_hz: float = 250.0
    safety: SafetyConfig = field(default_factory=lambda: SafetyConfig(watchdog_periods=25))
    tolerance: float = 1.05  # sampled trajectory velocity/acceleration may exceed the limits by this ratio
    jtc: JtcConfig = JtcConfig()

    def __post_init__(self) -> None:
        if not (1.0 <= self.rate_hz <= 2000.0):
            raise ValueError(f"rate_hz must be between 1 and 2000, got {self.rate_hz}")
        if self.tolerance < 1.0:
            raise ValueError("tolerance must be >= 1")


@dataclass(frozen=True)
class Forward:
    """What the gate sends on: ``kind`` "commands" (positions) or "trajectory" (a TrajectoryMsg, or
    None meaning: forward the original message unchanged)."""

    kind: str
    positions: np.ndarray | None = None
    trajectory: TrajectoryMsg | None = None


def braking_trajectory(q: np.ndarray, v: np.ndarray, amax: np.ndarray, lower: np.ndarray,
                       upper: np.ndarray, joint_names, dt: float, n_points: int = 5) -> TrajectoryMsg:
    """Stop from (q, v) with a synchronised constant deceleration within ``amax``; start now."""
    q = np.asarray(q, float)
    v = np.asarray(v, float)
    T = max(float(np.max(np.abs(v) / np.maximum(amax, 1e-9))), dt)
    a = -v / T  # |a| <= amax by construction of T
    pts = []
    for k in range(1, n_points + 1):
        t = T * k / n_points
        pos = np.clip(q + v * t + 0.5 * a * t * t, lower, upper)
        vel = v + a * t if k < n_points else np.zeros_like(v)
        pts.append(TrajectoryPointMsg(t, tuple(pos), tuple(vel)))
    return TrajectoryMsg(0.0, tuple(joint_names), tuple(pts))


def check_trajectory(msg: TrajectoryMsg, joint_names, state: JointState, limits_lo: np.ndarray,
                     limits_hi: np.ndarray, vmax: np.ndarray, amax: np.ndarray, dt: float,
                     tolerance: float, jtc: JtcConfig,
                     tcp_in_box: Callable[[np.ndarray], bool] | None = None) -> None:
    """Raise TrajectoryRejected (with the reason) unless the trajectory is safe to execute from ``state``."""
    now = float(state.stamp)
    traj = validate_trajectory(msg, joint_names, now, state.position, jtc)
    f = JointTrajectoryFollower(state.position)
    f.start_from(state.position, state.velocity)
    f.set_trajectory(traj)
    t0 = max(traj.start, now)
    n_steps = int(np.ceil((traj.end - t0) / dt)) + 2
    if n_steps > 2_000_000:
        raise TrajectoryRejected(f"trajectory too long to check ({traj.end - t0:.1f} s)")
    ts = t0 + dt * np.arange(n_steps)
    Q = np.empty((n_steps, len(state.position)))
    for i, t in enumerate(ts):
        Q[i] = f.sample(float(t))[0]
    out = (Q < limits_lo - 1e-9) | (Q > limits_hi + 1e-9)
    if out.any():
        i, j = np.argwhere(out)[0]
        raise TrajectoryRejected(f"joint {joint_names[j]} leaves its position limits at t={ts[i] - now:+.3f} s")
    # Finite differences of the motion as the controller will sample it (it starts from the
    # measured position and velocity; measurement noise itself is not judged).
    V = np.diff(Q, axis=0) / dt
    over_v = np.abs(V) > vmax * tolerance + 1e-9
    if over_v.any():
        i, j = np.argwhere(over_v)[0]
        raise TrajectoryRejected(
            f"joint {joint_names[j]} velocity {abs(V[i, j]):.3f} rad/s above the limit {vmax[j]:.3f} "
            f"at t={ts[i] - now:+.3f} s")
    A = np.diff(V, axis=0) / dt
    over_a = np.abs(A) > amax * tolerance + 1e-9
    if over_a.any():
        i, j = np.argwhere(over_a)[0]
        raise TrajectoryRejected(
            f"joint {joint_names[j]} acceleration {abs(A[i, j]):.2f} rad/s^2 above the limit {amax[j]:.2f} "
            f"at t={ts[i] - now:+.3f} s")
    if tcp_in_box is not None:
        every = max(1, int(round(0.01 / dt)))
        for i in list(range(0, n_steps, every)) + [n_steps - 1]:
            if not tcp_in_box(Q[i]):
                raise TrajectoryRejected(f"tcp leaves the workspace box at t={ts[i] - now:+.3f} s")


STALE_STATES = 50  # armed, this many states in a row without a newer stamp: the arm's clock stands still


class StreamRate:
    """The gate's check that streamed commands come no faster than ``rate_hz``: the filter limits
    each command as one period of 1/rate_hz, so a client at twice the rate, in front of an arm
    whose ``/joint_states`` come as fast, would move the arm at twice the velocity limit.

    The forwarded commands are timed on the clock in use, the stamps of ``/joint_states`` (as the
    gate keeps time: a sim in fast pacing runs its periods faster than the wall clock), over ~2 s
    of them (``maxlen``); the stream is too fast when they span less than 1/1.3 of their periods.
    `GateCore` forwards at most one command per state with a newer stamp, so the stamps of a
    window always advance."""

    def __init__(self, rate_hz: float) -> None:
        self.rate_hz = float(rate_hz)
        self.dt = 1.0 / self.rate_hz
        self.maxlen = max(50, int(2 * self.rate_hz))
        self._stamps: deque[float] = deque(maxlen=self.maxlen)

    def clear(self) -> None:
        self._stamps.clear()

    def add(self, stamp: float) -> str | None:
        """One forwarded command, with the stamp of the state it went out on. Returns the reason
        to disarm (and clears the window), else None."""
        stamps = self._stamps
        stamps.append(stamp)
        n = len(stamps)
        if n < self.maxlen:
            return None
        span = stamps[-1] - stamps[0]
        if span * 1.3 >= (n - 1) * self.dt:
            return None
        rate = (n - 1) / span if span > 0 else float("inf")
        stamps.clear()
        return (f"disarmed: commands arrive at {rate:.0f} Hz, faster than the gate's rate_hz {self.rate_hz:g} (its "
                f"limits hold per period of 1/rate_hz): start the gate with --rate-hz {rate:.0f} or the "
                f"client at {self.rate_hz:g} Hz")


class GateCore:
    """Arming, e-stop, watchdog and filtering for one arm (joint order = ``joint_names``)."""

    def __init__(self, joint_names, limits: JointLimits, config: GateConfig = GateConfig(), *,
                 tcp_position: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
        self.joint_names = tuple(joint_names)
        self.config = config
        self.dt = 1.0 / config.rate_hz
        self.filter = SafetyFilter(limits, self.dt, config.safety, tcp_position=tcp_position)
        self.armed = False
        self.estopped = False
        self.mode: str | None = None  # "commands" | "trajectory"
        self.state: JointState | None = None
        self.last_cmd_stamp: float | None = None
        self.holding = False
        self._q_forwarded: np.ndarray | None = None  # the last streamed position command forwarded
        # a position command has gone out in this period of the arm's clock (since the last state
        # with a newer stamp); the streamed command waiting for the next period, if one does
        self._period_used = False
        self.pending: np.ndarray | None = None
        self.pending_replaced = 0  # commands the waiting one has replaced (a backlog when many)
        self._stale_states = 0  # states in a row whose stamp did not advance
        self.counts = {"forwarded_commands": 0, "forwarded_trajectories": 0, "refused": 0, "holds": 0,
                       "watchdog_holds": 0, "estops": 0, "replaced_commands": 0}
        self.safety_counts = {e.value: 0 for e in SafetyEvent}
        self.last_refusal = ""
        self.last_event = ""
        # the last e-stop message each reader took; how many copies of trues another reader took
        # each reader has not taken yet; the live time a release (a false) has waited (None: no
        # release waits) and when it last looked (`estop_tick`)
        self._estop_last: dict[str, bool] = dict.fromkeys(ESTOP_READERS, False)
        self._estop_owed: dict[str, int] = dict.fromkeys(ESTOP_READERS, 0)
        self._release_waited: float | None = None
        self._release_seen = 0.0
        # the newest command while it is a trajectory from the topic (its start made absolute),
        # for `after_stopped_goal`; None when a goal, a command stream or an arming came after it
        self._topic_trajectory: TrajectoryMsg | None = None

    # --- bookkeeping -------------------------------------------------------------------------------
    def refuse(self, reason: str) -> None:
        """Count a refused input and keep its reason (`status` reports the last one)."""
        self.counts["refused"] += 1
        self.last_refusal = reason

    def _note(self, events) -> None:
        for e in events:
            self.safety_counts[e.event.value] += 1

    def _tcp_in_box(self):
        if self.filter.tcp_position is None:
            return None
        return self.filter.in_workspace

    # --- inputs ------------------------------------------------------------------------------------
    def on_joint_state(self, state: JointState) -> Forward | None:
        """Store the state. A state with a newer stamp starts a period: the command that waited
        for it goes out; else the watchdog runs, and the next hold command while holding."""
        new_period = self.state is None or state.stamp > self.state.stamp
        self.state = state
        if new_period:
            self._period_used = False
            self._stale_states = 0
        elif self.armed:
            self._stale_states += 1
            if self._stale_states >= STALE_STATES:
                return self.state_lost(f"disarmed: the stamps of /joint_states did not advance over "
                                       f"{self._stale_states} states (the gate keeps time by them)")
        if self.mode != "commands":
            return None
        if new_period and self.pending is not None:
            values = self.pending
            self._drop_pending()
            return self._forward_command(values)
        if not self.holding:
            if not self.armed or self.filter.holding:
                return None  # nothing to watch, or this silence was held and has come to rest
            out = self.filter.watchdog(state)
            if out is None:
                return None
            self.holding = True
            self.counts["watchdog_holds"] += 1
            self.last_event = f"watchdog: no command for {self.config.safety.watchdog_periods} periods, holding"
            self._note(out.events)
            # The hold brakes from the last reference forwarded, with the arm's measured velocity,
            # not with the last command's: a forward controller holds its last setpoint, so by now
            # the reference has stood there for the watchdog's periods, and a braking ramp from
            # the stream's velocity would move it on by that braking distance (0.1 m at a UR10e's
            # tcp) and away from where the stream resumes. The position is the reference's, not
            # the measured one: a controller chained after the forward controller (an admittance
            # controller) offsets what it receives, so the measured joints carry that offset and
            # a hold there would have it added twice (the arm stepped by the offset, then back
            # when the stream resumes).
            self.filter.reset(self._from_reference(state))
            q = self.filter.hold_position(state)
        else:
            q = self.filter.hold_position(state)
        if self.filter.at_rest:
            self.holding = False  # at rest: the controller holds the last command
        self._q_forwarded = q
        self._period_used = True
        return Forward("commands", positions=q)

    def _from_reference(self, state: JointState) -> JointState:
        """``state`` with the last forwarded position command in place of the measured positions
        (the measured ones before any command was forwarded)."""
        if self._q_forwarded is None:
            return state
        return JointState(state.stamp, state.names, self._q_forwarded, state.velocity, state.effort)

    def ready(self, what: str) -> str | None:
        """None when ``what`` (a command of any kind) may be forwarded now, else why not."""
        if self.estopped:
            return f"{what} refused: e-stop active"
        if not self.armed:
            return f"{what} refused: gate not armed (call /officina/arm with true)"
        if self.state is None:
            return f"{what} refused: no /joint_states yet"
        return None

    def on_command(self, values) -> Forward | None:
        """A streamed position command: forwarded now, or, when this period's command has gone
        out, kept in `pending` for the next state (None returned; a newer command replaces it)."""
        why = self.ready("command")
        if why:
            self.refuse(why)
            return None
        if self.mode != "commands":
            self.filter.reset(self.state)
            self.mode = "commands"
        self._topic_trajectory = None
        if self._period_used:
            q, _ = as_command(values, len(self.joint_names))
            if q is not None:  # (a malformed command is refused at once, with the hold)
                if self.pending is not None:
                    self.counts["replaced_commands"] += 1
                    self.pending_replaced += 1
                self.pending = q
                return None
        return self._forward_command(values)

    def _drop_pending(self) -> None:
        self.pending = None
        self.pending_replaced = 0

    def _forward_command(self, values) -> Forward:
        self._period_used = True
        q, events = self.filter.filter_position(values, self.state)
        if events:
            self._note(events)
            if any(e.event == SafetyEvent.MALFORMED for e in events):
                self.refuse(f"command refused: {events[-1].reason}; holding")
                self.holding = True
                self._q_forwarded = q
                return Forward("commands", positions=q)
            self.last_event = f"command {', '.join(e.event.value for e in events)}: {events[-1].reason}"
        self.last_cmd_stamp = self.state.stamp
        self.holding = False
        self._q_forwarded = q
        self.counts["forwarded_commands"] += 1
        return Forward("commands", positions=q)

    def on_trajectory(self, msg: TrajectoryMsg, *, goal: bool = False) -> Forward | None:
        """A trajectory from the topic, or (``goal``) a FollowJointTrajectory goal's: checked whole."""
        why = self.ready("trajectory")
        if why:
            self.refuse(why)
            return None
        try:
            self._check_trajectory(msg)
        except TrajectoryRejected as exc:
            self.refuse(f"trajectory refused: {exc}")
            return None
        self.mode = "trajectory"
        self.holding = False
        self._q_forwarded = None
        self._drop_pending()
        # A zero stamp starts the trajectory when the controller takes it; the one kept for
        # `after_stopped_goal` starts when the gate checked it, so that sending it again goes on
        # with it rather than starting it over.
        self._topic_trajectory = None if goal else (
            replace(msg, stamp=float(self.state.stamp)) if msg.stamp == 0.0 else msg)
        self.counts["forwarded_trajectories"] += 1
        return Forward("trajectory")

    # --- arming and stopping ----------------------------------------------------------------------------
    def set_armed(self, flag: bool) -> tuple[bool, str, Forward | None]:
        if flag:
            if self.estopped:
                return False, "refused: e-stop active (publish false on /officina/estop to release)", None
            if self.state is None:
                return False, "refused: no /joint_states yet", None
            self.filter.reset(self.state)
            self.armed = True
            self.holding = False
            self.mode = None
            self._topic_trajectory = None
            self.last_cmd_stamp = None
            self._q_forwarded = None
            self._period_used = False
            self._drop_pending()
            self.last_event = "armed"
            return True, "armed", None
        was = self.armed
        self.armed = False
        self._drop_pending()
        self.last_event = "disarmed"
        return True, "disarmed", self._hold() if was else None

    def state_lost(self, reason: str) -> Forward | None:
        """The arm's state stopped coming: disarm as `set_armed` (False) does, with the same hold
        (from the last state received), and keep ``reason`` as the last refusal."""
        if not self.armed:
            return None
        fwd = self.set_armed(False)[2]
        self.refuse(reason)
        return fwd

    def estop(self, flag: bool) -> Forward | None:
        """Engage (True) or release (False) the e-stop. A latch: the same value again changes
        nothing and counts nothing (``estops`` counts engagements). The node's two readers of the
        e-stop topic go through `estop_from`, which decides when a false releases."""
        self._release_waited = None
        if not flag:
            if self.estopped:
                self.estopped = False
                self.filter.set_estop(False, self.state)
                self.last_event = "e-stop released (still disarmed)"
            return None
        if self.estopped:
            return None
        self.counts["estops"] += 1
        self.estopped = True
        self._note(self.filter.set_estop(True, self.state))
        self.armed = False
        self._topic_trajectory = None
        self._drop_pending()
        self.last_event = "e-stop: forwarding stopped, holding, disarmed"
        return self._hold()

    def estop_from(self, reader: str, flag: bool, publishers: Mapping[str, int], now: float) -> Forward | None:
        """One e-stop message as one of the node's readers (`ESTOP_READERS`) took it;
        ``publishers``: how many publishers each reader matches now; ``now``: the node's wall
        clock [s] (`estop_tick` goes on with it).

        A true engages at once (`estop`). A reliable writer's message reaches both readers, one
        copy after the other, and the copies of a fast true/false burst interleave in any order:
        a release on one reader's false could be followed by the other reader's late copy of a
        later true (engage, release, engage again). So the release is monotone: every true a
        reader takes that is not the copy of one another reader took puts the other readers in
        its debt, one copy each; a true taken voids a waiting release; a false releases only once
        the last message on every reader is false and no reader that has a publisher owes a
        copy. An owed copy is waited for ``ESTOP_COPY_WAIT_S`` after the false (a best-effort
        writer's message, or one sent before its writer had matched both readers, reaches one
        reader only), counted in the node's live time: a stall of its executor, over which the
        copy may have arrived and wait in its reader's queue, does not count (`estop_tick`).

        A true a reader took holds until that reader takes a false, whether or not its writer is
        still there: the reliable reader takes reliable writers only, so a best-effort writer's
        false (a pendant's bridge) does not release an e-stop that a reliable writer (a safety
        PLC's bridge) engaged, nor does that writer's leaving (a crash); a false from any reliable
        writer does (``ros2 topic pub --once`` publishes reliably). Only an owed copy is not
        waited for on a reader without publishers (none can come)."""
        last, owed = self._estop_last, self._estop_owed
        if flag:
            if not self.estopped:
                for r in owed:
                    owed[r] = 0 if r == reader else 1
            elif owed[reader] > 0:
                owed[reader] -= 1  # the copy of a true another reader took
            else:
                for r in owed:
                    if r != reader:
                        owed[r] += 1
            last[reader] = True
            return self.estop(True)  # (a waiting release is void)
        last[reader] = False
        if not self.estopped:
            return None
        if self._release_waited is None:
            self._release_waited, self._release_seen = 0.0, now
        return self.estop_tick(publishers, now)

    def estop_tick(self, publishers: Mapping[str, int], now: float) -> Forward | None:
        """Release the e-stop if a release waits (`estop_from`) and no reader holds it any
        more; the node calls it on a timer and with every state while `release_waits`. The wait
        for an owed copy counts the time between two looks up to ``ESTOP_TICK_GAP_S``: a longer
        gap is a stall of the node's executor, not time the copy had to arrive in."""
        if not self.release_waits:
            return None
        self._release_waited += min(max(now - self._release_seen, 0.0), ESTOP_TICK_GAP_S)
        self._release_seen = now
        last, owed = self._estop_last, self._estop_owed
        holding = [r for r in ESTOP_READERS if last[r] or (
            owed[r] > 0 and publishers.get(r, 0) > 0 and self._release_waited < ESTOP_COPY_WAIT_S)]
        if holding:
            r = holding[0].replace("_", "-")
            self.last_event = (f"e-stop: the release waits for a false on the {r} reader (its last message said true)"
                               if last[holding[0]] else
                               f"e-stop: the release waits up to {ESTOP_COPY_WAIT_S:g} s for the {r} reader's copy "
                               "of a true")
            return None
        return self.estop(False)

    @property
    def release_waits(self) -> bool:
        """An e-stop release (a false taken) waits for the other reader (`estop_from`)."""
        return self.estopped and self._release_waited is not None

    @property
    def copy_waits(self) -> bool:
        """A waiting release may end by time alone (an owed copy's wait running out): the node
        looks at it on a timer of its own (a reader's true holds until a message changes it)."""
        return (self.release_waits and self._release_waited < ESTOP_COPY_WAIT_S
                and any(self._estop_owed.values()))

    def _hold(self) -> Forward | None:
        if self.state is None:
            return None
        self.counts["holds"] += 1
        if self.mode == "commands":
            self.holding = True
            q = self.filter.hold_position(self.state)
            self._q_forwarded = q
            self._period_used = True
            return Forward("commands", positions=q)
        self.holding = False
        return self._braking()

    def _braking(self) -> Forward:
        f = self.filter
        traj = braking_trajectory(self.state.position, self.state.velocity, f.amax, f.lower, f.upper,
                                  self.joint_names, self.dt)
        return Forward("trajectory", trajectory=traj)

    def trajectory_hold(self) -> Forward | None:
        """The trajectory controller's hold again (a braking trajectory from the last state), while
        disarmed: for a FollowJointTrajectory goal that the controller took after the hold of an
        e-stop or a disarm (`officina.ros.fjt.GateActionRelay`). None while armed (a new motion
        may run) or before any state."""
        if self.armed or self.state is None:
            return None
        self.counts["holds"] += 1
        self.last_event = "hold commanded again: a stopped FollowJointTrajectory goal ended at the controller"
        return self._braking()

    def after_stopped_goal(self) -> Forward | None:
        """What to command once a FollowJointTrajectory goal that the gate stopped has ended at
        the controller (`officina.ros.fjt.GateActionRelay`), so that the newest command has the
        last word there: the controller may have taken the goal after the command that replaced
        it (its acceptance was on its way), and a cancel that finds it running holds the arm
        where it is. Disarmed (e-stop, disarm, state lost): the hold again (`trajectory_hold`).
        Armed, with a trajectory from the topic the newest command: that trajectory again, with
        the start it had (a zero stamp made the time the gate checked it), so the controller goes
        on with it from where the arm is; checked again from the last state, and if it no longer
        passes (it has ended, or it would now break a limit), refused and the braking hold
        commanded instead. Else None: a newer goal or a command stream commands the arm."""
        if not self.armed:
            return self.trajectory_hold()
        msg = self._topic_trajectory
        if msg is None or self.mode != "trajectory" or self.state is None:
            return None
        try:
            self._check_trajectory(msg)
        except TrajectoryRejected as exc:
            self._topic_trajectory = None
            self.refuse(f"trajectory not sent again after the goal it replaced ended at the controller: {exc}; holding")
            self.counts["holds"] += 1
            self.last_event = "hold commanded: a stopped FollowJointTrajectory goal ended at the controller"
            return self._braking()
        self.last_event = ("trajectory sent again: a FollowJointTrajectory goal it replaced ended at the "
                           "controller after it")
        return Forward("trajectory", trajectory=msg)

    def _check_trajectory(self, msg: TrajectoryMsg) -> None:
        """`check_trajectory` from the last state, within the filter's limits and the workspace
        box; raises `TrajectoryRejected` with the reason."""
        f = self.filter
        check_trajectory(msg, self.joint_names, self.state, f.lower, f.upper, f.vmax, f.amax, self.dt,
                         self.config.tolerance, self.config.jtc, self._tcp_in_box())

    def events(self) -> tuple:
        """What `status` says that changes on an event only (not with every command): cheap to
        compare, so a node can publish its status at once on a change."""
        c = self.counts
        return (self.armed, self.estopped, self.holding, self.mode, self.last_refusal, self.last_event,
                c["refused"], c["holds"], c["watchdog_holds"], c["estops"], self.state is not None)

    def status(self) -> dict[str, str]:
        vals = {"armed": str(self.armed).lower(), "estopped": str(self.estopped).lower(),
                "holding": str(self.holding).lower(), "mode": self.mode or "none",
                "last_refusal": self.last_refusal, "last_event": self.last_event,
                "stamp": f"{self.state.stamp:.6f}" if self.state is not None else ""}
        vals.update({k: str(v) for k, v in self.counts.items()})
        vals.update({f"safety_{k}": str(v) for k, v in self.safety_counts.items()})
        return vals
