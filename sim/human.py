"""The human model in PyBullet: forward simulation of a lift, the independent check of the RNEA.

The URDF is the one :func:`officina.exoskeleton.urdf.human_urdf` generates (feet fixed to the
world, the box fixed at the hands). The joints are driven in torque mode by a PD law that tracks
the lift's joint trajectory; the PD is written in the mass-matrix metric so that every mode has
the same bandwidth (``tau = M(q) [w^2 (q_ref - q) + 2 zeta w (qd_ref - qd)]``, M from PyBullet's
own ``calculateMassMatrix``; no gravity or inverse-dynamics feed-forward, so nothing of
Pinocchio's computation enters the simulation). A joint force/torque sensor at L5/S1 reports the
wrench the pelvis exerts on the trunk, in the joint frame (``JOINT_FEEDBACK_IN_JOINT_FRAME``):
its y moment is the net L5/S1 joint moment, to compare with
:func:`officina.exoskeleton.dynamics.inverse_dynamics`.

One physics client per instance, ``DIRECT`` mode, every call passes ``physicsClientId``.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass

import numpy as np
from officina.exoskeleton.lifts import Lift
from officina.exoskeleton.model import JOINTS, HumanModel
from officina.exoskeleton.urdf import human_urdf

__all__ = ["HumanSim", "SimulatedLift", "simulate_lift"]


@dataclass(frozen=True)
class SimulatedLift:
    """What the simulation measured, sampled after each physics step at the lift's times ``t``:
    joint angles ``q`` (T x 6), applied torques ``tau`` (T x 6, joint-axis convention), and the
    L5/S1 sensor: ``l5s1_moment`` (extensor +, N m) and ``l5s1_force`` (T x 3, N, joint frame:
    x anterior, z along the trunk; the force of the pelvis on the trunk)."""

    t: np.ndarray
    q: np.ndarray
    tau: np.ndarray
    l5s1_moment: np.ndarray
    l5s1_force: np.ndarray


class HumanSim:
    """A PyBullet world holding one human (and the box at the hands when ``load_kg > 0``)."""

    def __init__(self, model: HumanModel, load_kg: float = 0.0, time_step: float = 1e-3, gravity: float = 9.81):
        from officina.sim.bullet import pybullet

        if not (1e-5 <= time_step <= 0.01):
            raise ValueError(f"time step: expected 1e-5 to 0.01 s, got {time_step!r}")
        self._p = pybullet
        self.model = model
        self.time_step = float(time_step)
        self.client = pybullet.connect(pybullet.DIRECT)
        p, cid = self._p, self.client
        try:
            p.setPhysicsEngineParameter(jointFeedbackMode=p.JOINT_FEEDBACK_IN_JOINT_FRAME, physicsClientId=cid)
            fd, path = tempfile.mkstemp(suffix=".urdf", prefix="officina_human_")
            with os.fdopen(fd, "w") as fh:
                fh.write(human_urdf(model, load_kg))
            try:
                self.body = p.loadURDF(path, [0, 0, 0], useFixedBase=True, flags=p.URDF_USE_INERTIA_FROM_FILE, physicsClientId=cid)
            finally:
                os.unlink(path)
            n = p.getNumJoints(self.body, physicsClientId=cid)
            names = {p.getJointInfo(self.body, i, physicsClientId=cid)[1].decode(): i for i in range(n)}
            self.joint_index = [names[j] for j in JOINTS]
            self.l5s1_index = names["l5s1"]
            p.setGravity(0, 0, -gravity, physicsClientId=cid)
            p.setTimeStep(self.time_step, physicsClientId=cid)
            for i in range(-1, n):  # PyBullet's default damping would be an unmodelled load
                p.changeDynamics(self.body, i, linearDamping=0.0, angularDamping=0.0, jointDamping=0.0, physicsClientId=cid)
            p.setJointMotorControlArray(self.body, self.joint_index, p.VELOCITY_CONTROL, forces=[0.0] * len(JOINTS), physicsClientId=cid)
            p.enableJointForceTorqueSensor(self.body, self.l5s1_index, True, physicsClientId=cid)
        except Exception:
            p.disconnect(physicsClientId=cid)
            raise

    def close(self) -> None:
        if self.client is not None and self._p.isConnected(physicsClientId=self.client):
            self._p.disconnect(physicsClientId=self.client)
        self.client = None

    def __enter__(self) -> HumanSim:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def reset(self, q: np.ndarray, qd: np.ndarray | None = None) -> None:
        qd = np.zeros(len(JOINTS)) if qd is None else qd
        for k, j in enumerate(self.joint_index):
            self._p.resetJointState(self.body, j, float(q[k]), float(qd[k]), physicsClientId=self.client)

    def state(self) -> tuple[np.ndarray, np.ndarray]:
        st = self._p.getJointStates(self.body, self.joint_index, physicsClientId=self.client)
        return np.array([s[0] for s in st]), np.array([s[1] for s in st])

    def mass_matrix(self, q: np.ndarray) -> np.ndarray:
        return np.array(self._p.calculateMassMatrix(self.body, [float(x) for x in q], physicsClientId=self.client))

    def step(self, tau: np.ndarray) -> None:
        self._p.setJointMotorControlArray(
            self.body, self.joint_index, self._p.TORQUE_CONTROL, forces=[float(x) for x in tau], physicsClientId=self.client
        )
        self._p.stepSimulation(physicsClientId=self.client)

    def l5s1_wrench(self) -> tuple[np.ndarray, np.ndarray]:
        """(force N, moment N m) the pelvis exerts on the trunk at L5/S1, in the joint frame."""
        rf = self._p.getJointState(self.body, self.l5s1_index, physicsClientId=self.client)[2]
        return np.array(rf[:3]), np.array(rf[3:])


def simulate_lift(
    model: HumanModel,
    lift: Lift,
    *,
    bandwidth_hz: float = 20.0,
    damping_ratio: float = 1.0,
    settle_s: float = 0.3,
) -> SimulatedLift:
    """Track ``lift`` in PyBullet (time step = the lift's ``dt``) and record the L5/S1 sensor.

    The PD first holds the start posture for ``settle_s`` so the recording starts settled.
    """
    if not (1.0 <= bandwidth_hz <= 100.0):
        raise ValueError(f"bandwidth: expected 1 to 100 Hz, got {bandwidth_hz!r}")
    dt = lift.dt
    w = 2.0 * math.pi * bandwidth_hz
    if w * dt > 0.5:
        raise ValueError(f"time step {dt:g} s is too coarse for a {bandwidth_hz:g} Hz tracking bandwidth (need w dt <= 0.5)")
    T = len(lift.t)
    q_log = np.zeros((T, len(JOINTS)))
    tau_log = np.zeros((T, len(JOINTS)))
    m_log = np.zeros(T)
    f_log = np.zeros((T, 3))
    with HumanSim(model, lift.load_kg, time_step=dt) as sim:
        sim.reset(lift.q[0], lift.qd[0])

        def control(q_ref, qd_ref):
            q, qd = sim.state()
            return sim.mass_matrix(q) @ (w * w * (q_ref - q) + 2.0 * damping_ratio * w * (qd_ref - qd))

        for _ in range(int(round(settle_s / dt))):
            sim.step(control(lift.q[0], lift.qd[0]))
        for k in range(T):
            tau = control(lift.q[k], lift.qd[k])
            sim.step(tau)
            q, _ = sim.state()
            f, m = sim.l5s1_wrench()
            q_log[k], tau_log[k], m_log[k], f_log[k] = q, tau, -m[1], f
    return SimulatedLift(t=lift.t.copy(), q=q_log, tau=tau_log, l5s1_moment=m_log, l5s1_force=f_log)
