"""Control laws in torque mode on the simulated arms (PyBullet SimArm at 1 kHz)."""

import numpy as np
import pytest
from officina.controllers.laws import (
    LAWS,
    CartesianReference,
    ComputedTorque,
    JointPDGravity,
    JointReference,
    LawStatus,
    OperationalSpace,
    damped_inverse,
)
from officina.controllers.model import RobotModel
from officina.controllers.trajectory import plan_waypoints

from officina.benchmarks.bench_control import run_tracking
from officina.interfaces import JointState
from officina.robots import load_robot

# Stated bounds on the standard trajectory (every joint out and back at half the velocity and
# acceleration limits, 1 kHz torque control). Errors of the state one period after each command.
BOUNDS = {
    #                      joint max rad, tcp max m
    "joint_pd": (0.03, 0.012),
    "computed_torque": (0.002, 0.0005),
    "cartesian_impedance": (None, 0.001),
    "osc": (None, 0.001),
}


# The Cartesian laws damp the inverse of the operational-space inertia below sigma_min (default
# 1e-2, in 1/kg for the translations): right for arms of up to ~20 kg, but the 272 kg IRB 2600
# has eigenvalues of J M^-1 J^T down to ~0.01 along the standard trajectory (the UR10e: 0.07),
# where the default damping already bends Lambda. For that arm the threshold is scaled down.
LAW_KWARGS = {"irb2600": {"sigma_min": 1e-3, "lam_max": 0.01}}


def _law_kwargs(robot: str, law: str) -> dict | None:
    return LAW_KWARGS.get(robot) if law in ("cartesian_impedance", "osc") else None


@pytest.mark.parametrize("robot", ["panda", "iiwa", "ur5e", "ur10e", "irb2600"])
@pytest.mark.parametrize("law", list(LAWS))
def test_law_tracks_standard_trajectory(robot, law):
    out = run_tracking(robot, law, law_kwargs=_law_kwargs(robot, law))
    jmax, tmax = BOUNDS[law]
    if jmax is not None:
        assert out["joint_max_rad"] < jmax, out
    assert out["tcp_max_m"] < tmax, out
    assert out["tcp_rot_max_rad"] < 0.03, out
    assert out["saturated_ticks"] == 0, out
    assert out["peak_velocity_ratio"] < 0.7, out  # the trajectory runs at 0.5 of the limits


# Paths through a singular configuration: (joint index, from, to) around a base pose.
SINGULAR_PATHS = {
    "ur5e": ({4: 0.0}, 4, -0.35, 0.35),  # wrist_2 = 0: wrist singularity (exact)
    "ur10e": ({4: 0.0}, 4, -0.35, 0.35),  # wrist_2 = 0: wrist singularity (exact)
    "irb2600": ({4: 0.0}, 4, -0.35, 0.35),  # axis 5 = 0: axes 4 and 6 aligned (exact)
    "iiwa": ({3: 0.0}, 3, -0.4, 0.4),  # joint 4 = 0: stretched elbow (exact)
    "panda": ({1: 0.0, 3: -0.0698}, 1, -0.3, 0.3),  # stretched at the joint-4 limit (sigma_min 0.026)
}


@pytest.mark.parametrize("robot", ["panda", "iiwa", "ur5e", "ur10e", "irb2600"])
@pytest.mark.parametrize("law", ["cartesian_impedance", "osc"])
def test_cartesian_laws_stay_bounded_through_a_singularity(robot, law):
    spec = load_robot(robot)
    m = RobotModel.from_spec(spec)
    fixed, j, a, b = SINGULAR_PATHS[robot]
    q_s = spec.home.copy()
    for k, v in fixed.items():
        q_s[k] = v
    sv = np.linalg.svd(m.jacobian(q_s, "tcp"), compute_uv=False)
    assert sv[-1] < 0.03  # the path really passes a (near-)singular configuration
    qa, qb = q_s.copy(), q_s.copy()
    qa[j], qb[j] = a, b
    tr = plan_waypoints([qa, q_s, qb], spec.limits, 0.001, velocity_scale=0.3, acceleration_scale=0.3)
    out = run_tracking(robot, law, traj=tr, law_kwargs=_law_kwargs(robot, law))
    assert out["peak_torque_ratio"] <= 1.0
    assert out["saturated_ticks"] == 0, out
    assert out["peak_velocity_ratio"] < 1.0, out
    assert out["tcp_max_m"] < 0.01, out


def test_damped_inverse_is_bounded():
    A = np.diag([1.0, 1e-12, 0.5])
    inv, smin = damped_inverse(A, sigma_min=1e-2, lam_max=0.1)
    assert smin < 1e-10
    assert np.abs(inv).max() <= 1 / (2 * 0.1) + 1e-9
    B = np.diag([2.0, 1.0])
    np.testing.assert_allclose(damped_inverse(B)[0], np.linalg.inv(B))


def test_gravity_compensation_and_invalid_inputs():
    spec = load_robot("panda")
    m = RobotModel.from_spec(spec)
    law = JointPDGravity(m, 0.001)
    q = spec.home
    st = JointState(0.0, spec.joint_names, q, np.zeros(7), np.zeros(7))
    tau, status = law.step(st, JointReference(q))
    np.testing.assert_allclose(tau, m.gravity(q), atol=1e-9)
    assert status == LawStatus.OK
    bad = JointState(0.0, spec.joint_names, np.full(7, np.nan), np.zeros(7), np.zeros(7))
    tau2, status2 = law.step(bad, JointReference(q))
    assert status2 == LawStatus.INVALID_INPUT and np.all(np.isfinite(tau2))
    np.testing.assert_allclose(tau2, m.gravity(q), atol=1e-9)  # holds with the last valid q
    ct = ComputedTorque(m, 0.001)
    _tau3, status3 = ct.step(st, JointReference(q[:3]))
    assert status3 == LawStatus.INVALID_INPUT
    osc = OperationalSpace(m, 0.001)
    _tau4, status4 = osc.step(st, CartesianReference(np.full((4, 4), np.inf)))
    assert status4 == LawStatus.INVALID_INPUT
    assert osc.validate(CartesianReference(np.eye(3))) is not None
    assert ct.validate(JointReference(q)) is None
    huge = JointReference(q + 100.0)
    tau5, status5 = JointPDGravity(m, 0.001).step(st, huge)
    assert status5 == LawStatus.SATURATED and np.all(np.abs(tau5) <= spec.limits.effort)
    with pytest.raises(ValueError):
        JointPDGravity(m, 0.0)
