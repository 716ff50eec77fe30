"""controllers.tracking: the torque-control loop over any Arm, and the standard trajectory; the
tracking benchmark on a robot with more than 7 joints."""

import json
import textwrap

import numpy as np
import pytest

from officina.controllers.laws import ComputedTorque, OperationalSpace
from officina.controllers.model import RobotModel
from officina.controllers.tracking import STANDARD_OFFSETS_RAD, standard_trajectory, track
from officina.interfaces import Arm, ControlMode, JointState
from officina.robots import load_robot

# The Panda with its two finger joints counted as arm joints: 9 joints, two of them prismatic
# with a 4 cm range.
PANDA9 = """\
    name: panda9
    description: the Panda with its finger joints as arm joints
    urdf: pybullet_data:franka_panda/panda.urdf
    base_link: panda_link0
    joints: [panda_joint1, panda_joint2, panda_joint3, panda_joint4, panda_joint5, panda_joint6,
             panda_joint7, panda_finger_joint1, panda_finger_joint2]
    limits:
      acceleration: [5, 5, 5, 5, 5, 5, 5, 1, 1]
      jerk: [500, 500, 500, 500, 500, 500, 500, 50, 50]
    home: [0.0, -0.785398, 0.0, -2.356194, 0.0, 1.570796, 0.785398, 0.02, 0.02]
    flange: panda_link8
    tcp: {parent: panda_hand, xyz: [0, 0, 0.1034]}
"""


@pytest.fixture
def panda9(tmp_path):
    p = tmp_path / "panda9.yaml"
    p.write_text(textwrap.dedent(PANDA9))
    return p


def test_bench_control_on_a_robot_with_more_than_7_joints(panda9, cli):
    r = cli(["bench", "control", "--robot", panda9, "--law", "computed_torque", "--json"])
    assert r.exit_code == 0, r.output
    row = json.loads(r.stdout)["results"][0]
    assert row["robot"] == "panda9" and row["law"] == "computed_torque"
    assert row["joint_max_rad"] < 2e-3 and row["tcp_max_m"] < 5e-4
    assert row["saturated_ticks"] == 0 and row["peak_velocity_ratio"] < 0.7


def test_standard_trajectory_moves_every_joint_within_its_limits(panda9):
    m = RobotModel.from_spec(load_robot(str(panda9)))
    assert m.nq > len(STANDARD_OFFSETS_RAD)
    tr = standard_trajectory(m, 0.001)
    lim = m.limits
    far = tr.q[np.argmax(np.abs(tr.q - m.spec.home).sum(axis=1))]
    assert np.all(np.abs(far - m.spec.home) > 1e-3)  # every joint moves, the fingers included
    assert np.all(tr.q >= lim.lower) and np.all(tr.q <= lim.upper)
    np.testing.assert_allclose(tr.q[0], m.spec.home, atol=1e-6)
    np.testing.assert_allclose(tr.q[-1], m.spec.home, atol=1e-6)


class RigidBodyArm:
    """An `Arm` whose plant is the model's own rigid-body dynamics (Pinocchio), integrated with
    semi-implicit Euler at the control period: no simulator involved."""

    def __init__(self, model: RobotModel, q0, dt: float = 0.001):
        self.m = model
        self.q = np.array(q0, dtype=float)
        self.v = np.zeros(model.nq)
        self.tau = model.gravity(self.q)
        self.t = 0.0
        self.dt = dt
        self.mode = None

    joint_names = property(lambda self: self.m.spec.joint_names)
    limits = property(lambda self: self.m.limits)
    control_period = property(lambda self: self.dt)

    def read(self) -> JointState:
        return JointState(self.t, self.joint_names, self.q.copy(), self.v.copy(), self.tau.copy())

    def set_mode(self, mode) -> None:
        self.mode = mode

    def command_positions(self, q, qd=None) -> None:
        raise AssertionError("torque mode only")

    command_velocities = command_positions

    def fault(self):
        return None

    def clear_fault(self) -> bool:
        return True

    def command_torques(self, tau) -> None:
        assert self.mode == ControlMode.TORQUE
        self.tau = np.asarray(tau, dtype=float)

    def step(self) -> None:
        m = self.m
        qdd = np.linalg.solve(m.mass_matrix(self.q), self.tau - m.nonlinear_effects(self.q, self.v) - m.friction(self.v))
        self.v = self.v + qdd * self.dt
        self.q = self.q + self.v * self.dt
        self.t += self.dt


@pytest.mark.parametrize("law_cls", [ComputedTorque, OperationalSpace])
def test_track_runs_a_law_on_any_arm(law_cls):
    m = RobotModel.from_spec(load_robot("ur5e"))
    arm = RigidBodyArm(m, m.spec.home)
    assert isinstance(arm, Arm)
    ref = standard_trajectory(m, arm.control_period)
    res = track(arm, law_cls(m, arm.control_period), ref, arm.step, settle_s=0.1)
    assert res.duration_s == pytest.approx(len(ref) * 0.001 + 0.1)
    assert res.tcp_max_m < 5e-4 and res.tcp_rot_max_rad < 5e-3
    assert res.saturated_ticks == 0 and res.peak_torque_ratio < 1.0
    np.testing.assert_allclose(arm.q, ref.q[-1], atol=1e-3)  # held at the end after settling


def test_track_refuses_a_law_built_for_another_period():
    m = RobotModel.from_spec(load_robot("ur5e"))
    arm = RigidBodyArm(m, m.spec.home)
    with pytest.raises(ValueError, match="control period"):
        track(arm, ComputedTorque(m, 0.002), standard_trajectory(m, 0.001), arm.step)
