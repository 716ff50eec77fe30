"""`SafeArm`: any `Arm` behind a `SafetyFilter`, so that every command goes through the filter.

"No command path bypasses it" is structural: the wrapped arm is private and the wrapper has no
pass-through. The wrapper adds what the pure filter leaves to its owner: the explicit arming step,
the e-stop, the control mode, the checks once per control period (`monitor`, which the run loop
calls before each physics step: the watchdog, and with a `ContactMonitor` the protective stop a
real arm makes when it hits something), and the bookkeeping of events: every `SafetyRecord` goes
to ``on_event`` as it happens and is counted in ``counts``.

A speed override from the safety system (speed and separation monitoring) reaches every command
the same way: when the wrapped arm reports one (a ``speed_scaling`` attribute in [0, 1], as a
robot controller reports the scaling its safety system imposes), `monitor` hands it to the filter
once per period, which scales the velocity limits of every mode from then on (braking within the
acceleration limits); an override falling to 0 is recorded as a ``speed_override_stop``, not as a
``protective_stop`` (the stop on contact): the arm is not faulted and resumes by itself when the
override rises. `speed_scaling` tells the procedure's skills the override in force, so that they
can slow their trajectories down in time instead of being clamped.

A protective stop holds the arm (braking within the limits, then holding) and replaces every
command by that hold until the procedure calls `clear_fault`, as a UR's protective stop or a
Franka's reflex does; `fault()` says why the arm stopped.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from officina.controllers.contact import ContactMonitor
from officina.controllers.safety import Filtered, SafetyEvent, SafetyFilter, SafetyRecord
from officina.interfaces import ControlMode, JointLimits, JointState

__all__ = ["SafeArm"]


def _float_positions(arm) -> Callable[[list, list | None], None] | None:
    """The arm's ``command_position_floats(q, qd)`` (`officina.sim.arm.SimArm` has one): its
    position command taking the filter's output as lists of Python floats, without a conversion
    and without checking it again. Only when the class that defines the arm's `command_positions`
    defines it too, so that a subclass or a wrapper (which forwards attributes) that changes
    `command_positions` gets every command through its own `command_positions`; so does one set
    on the instance itself (a tap that records what is sent)."""
    if "command_positions" in getattr(arm, "__dict__", {}):
        return None
    for cls in type(arm).__mro__:
        if "command_positions" in vars(cls):
            send = vars(cls).get("command_position_floats")
            return None if send is None else send.__get__(arm)
    return None


class SafeArm:
    """An `Arm` whose every command goes through ``safety``.

    With ``require_arming=True`` nothing moves before ``arm()``; ``estop()`` holds until
    ``release_estop()``. A command refused by the wrapper itself (before arming, in the wrong
    mode) is replaced by the hold of the current mode and recorded as an event.
    """

    def __init__(self, arm, safety: SafetyFilter, *, require_arming: bool = False,
                 on_event: Callable[[SafetyRecord], None] | None = None,
                 contact: ContactMonitor | None = None, contact_every: int = 1):
        self._arm = arm
        self.safety = safety
        self.contact = contact
        self._contact_every = max(1, int(contact_every))
        self._periods = 0
        self._fault: str | None = None
        self._mode = ControlMode(getattr(arm, "mode", ControlMode.POSITION))
        self.armed = not require_arming
        self.on_event = on_event
        self.counts: dict[str, int] = {e.value: 0 for e in SafetyEvent}
        self._last_command: np.ndarray | None = None
        self._last_floats: list[float] | None = None  # the last command as floats, its array not made yet
        self._send_floats = _float_positions(arm)
        st = arm.read()
        self.safety.reset(st)
        if contact is not None:
            contact.reset(st)

    # --- Arm protocol -----------------------------------------------------------------------------
    @property
    def joint_names(self) -> tuple[str, ...]:
        return self._arm.joint_names

    @property
    def limits(self) -> JointLimits:
        return self._arm.limits

    @property
    def control_period(self) -> float:
        return self._arm.control_period

    @property
    def mode(self) -> ControlMode:
        return self._mode

    def read(self) -> JointState:
        return self._arm.read()

    def set_mode(self, mode: ControlMode) -> None:
        mode = ControlMode(mode)
        self._arm.set_mode(mode)
        self._mode = mode
        self._last_command = self._last_floats = None
        st = self._arm.read()
        self.safety.reset(st)
        if self.contact is not None:
            self.contact.reset(st)

    def command_positions(self, q, qd=None) -> None:
        """Filtered position command. A velocity feed-forward ``qd`` is passed on (clipped to the
        velocity limits) when the position command went through unchanged; when the filter
        changed it, the feed-forward is the velocity of the commands the filter emits instead
        (an arm's position controller given none damps its joints toward rest for that period:
        each clamp of a moving arm would jolt it)."""
        st = self._arm.read()
        if self._fault is not None or not self.armed or self._mode is not ControlMode.POSITION:
            self._refuse(ControlMode.POSITION, "position command", st)
            return
        safety = self.safety
        send_floats = self._send_floats
        if send_floats is not None:
            cmd = safety.filter_position_floats(q, st)
            if cmd is not None:  # the fast path: floats from end to end, no array made
                send_floats(cmd, None if qd is None else safety.feedforward_floats(qd))
                self._last_command, self._last_floats = None, cmd
                return
        out = safety.filter_position(q, st)
        self._last_floats = None
        if out.events:
            if qd is None:
                self._arm.command_positions(out.command)
            else:
                self._arm.command_positions(out.command, safety.velocity)
            self._last_command = out.command
            self._note(out.events)
            return
        if send_floats is not None:
            send_floats(out.command.tolist(), None if qd is None else safety.feedforward_floats(qd))
        else:
            ff = None if qd is None else safety.feedforward(qd)
            if ff is None:
                self._arm.command_positions(out.command)
            else:
                self._arm.command_positions(out.command, ff)
        self._last_command = out.command

    def command_velocities(self, qd) -> None:
        st = self._admit(ControlMode.VELOCITY, "velocity command")
        if st is not None:
            self._send(self.safety.filter_velocity(qd, st))

    def command_torques(self, tau) -> None:
        st = self._admit(ControlMode.TORQUE, "torque command")
        if st is not None:
            self._send(self.safety.filter_torque(tau, st))

    # --- what the owner of the loop calls -------------------------------------------------------------
    @property
    def last_command(self) -> np.ndarray | None:
        """The last command sent to the arm, in the current mode's units (None before the first)."""
        if self._last_command is None and self._last_floats is not None:
            self._last_command = np.array(self._last_floats)
        return self._last_command

    @property
    def position_reference(self) -> list[float] | np.ndarray | None:
        """The last position command sent to the arm, as it went (a list of floats or an array; not
        to be changed), or None before the first and outside position mode: what a recorder
        tracks the arm against, without an array made for it every period."""
        if self._mode is not ControlMode.POSITION:
            return None
        return self._last_command if self._last_floats is None else self._last_floats

    @property
    def speed_scaling(self) -> float:
        """The speed override in force (1: none), from the robot's safety system."""
        return self.safety.speed_scale

    @property
    def total_events(self) -> int:
        return sum(self.counts.values())

    def monitor(self) -> None:
        """Once per control period, before the arm moves on: the contact monitor (every
        ``contact_every`` periods), then the watchdog; a stopped arm gets its hold."""
        st = self._arm.read()
        self._periods += 1
        override = getattr(self._arm, "speed_scaling", None)
        if override is not None and override != self.safety.speed_scale:  # (unchanged: nothing to do)
            was = self.safety.speed_scale
            self.safety.set_speed_scale(override)
            if self.safety.speed_scale == 0.0 and was > 0.0:
                self._note((SafetyRecord(float(st.stamp), SafetyEvent.SPEED_OVERRIDE_STOP, "hold",
                                         "speed override 0 (speed and separation monitoring)"),))
        if self.contact is not None and self._periods % self._contact_every == 0:
            verdict = self.contact.check(st)  # also while stopped: the estimate stays current
            if verdict.stop and self._fault is None:
                self._fault = f"protective stop: {verdict.reason}"
                self._note((SafetyRecord(float(st.stamp), SafetyEvent.PROTECTIVE_STOP, "hold", verdict.reason),))
                # stop where the arm is, at once, as the robot's own protective stop does: the hold
                # keeps the measured position (a contact has already stopped the motion), instead of
                # braking on along the last command into what the arm hit
                self.safety.reset(JointState(st.stamp, st.names, st.position, np.zeros_like(st.position),
                                             st.effort))
        if self._fault is not None:
            self._send(Filtered(self.safety.hold(self._mode, st)))
            return
        out = self.safety.watchdog(st, self._mode)
        if out is not None:
            self._send(out)

    def fault(self) -> str | None:
        """Why the arm stopped (a protective stop), or None while it takes commands."""
        return self._fault

    def clear_fault(self) -> bool:
        """Resume after a protective stop (the next command starts from where the arm is; the arm
        may back out of the contact it stopped in, see `ContactMonitor.tolerate_current`)."""
        st = self._arm.read()
        self._fault = None
        self.safety.reset(st)
        if self.contact is not None:
            self.contact.tolerate_current(st)
        return True

    def arm(self) -> None:
        """The explicit arming step: commands move the arm from now on."""
        self.safety.reset(self._arm.read())
        self.armed = True

    def estop(self) -> None:
        st = self._arm.read()
        self._note(self.safety.set_estop(True, st))
        self._send(Filtered(self.safety.hold(self._mode, st)))

    def release_estop(self) -> None:
        self.safety.set_estop(False, self._arm.read())

    # --- internals ------------------------------------------------------------------------------------
    def _send(self, out: Filtered) -> None:
        if self._mode == ControlMode.POSITION:
            self._arm.command_positions(out.command)
        elif self._mode == ControlMode.VELOCITY:
            self._arm.command_velocities(out.command)
        else:
            self._arm.command_torques(out.command)
        self._last_command, self._last_floats = out.command, None
        if out.events:
            self._note(out.events)

    def _note(self, events: tuple[SafetyRecord, ...]) -> None:
        for e in events:
            self.counts[e.event.value] += 1
            if self.on_event is not None:
                self.on_event(e)

    def _admit(self, want: ControlMode, what: str) -> JointState | None:
        """The state to filter a command in mode ``want`` with, or None when the command is refused."""
        st = self._arm.read()
        if self._fault is None and self.armed and self._mode == want:
            return st
        self._refuse(want, what, st)
        return None

    def _refuse(self, want: ControlMode, what: str, st: JointState) -> None:
        """A command the wrapper does not pass on (stopped, before arming, in the wrong mode):
        the hold of the current mode instead, recorded as an event unless the arm is stopped."""
        if self._fault is not None:
            self._send(Filtered(self.safety.hold(self._mode, st)))
            return
        why = (SafetyEvent.NOT_ARMED, f"{what} before arm()") if not self.armed else (
            SafetyEvent.WRONG_MODE, f"{what} in {self._mode.value} mode")
        rec = SafetyRecord(float(st.stamp), why[0], "rejected", why[1])
        self._send(Filtered(self.safety.hold(self._mode, st), (rec,)))
