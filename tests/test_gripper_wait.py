"""How `Skills` waits for the gripper: a gripper that starts moving some periods after its command
is waited for; fingers stalled on an object end a grasp holding it; an opening stopped short is a
failed release; and the simulated fingers let go of a part they squeezed."""

import numpy as np
import pytest

from officina.controllers.model import RobotModel
from officina.controllers.skills import Skills, SkillStatus
from officina.interfaces import GraspState, JointState
from officina.robots import load_robot

DT = 0.001


class _Arm:
    """Holds still wherever it is commanded; enough of `Arm` for the gripper skills."""

    def __init__(self, q) -> None:
        self.q = np.asarray(q, float)
        self.joint_names = tuple(f"j{i}" for i in range(len(self.q)))
        self.control_period = DT

    def read(self) -> JointState:
        z = np.zeros_like(self.q)
        return JointState(0.0, self.joint_names, self.q.copy(), z, z)

    def command_positions(self, q, qd=None) -> None:
        self.q = np.asarray(q, float)

    def fault(self):
        return None


class _Gripper:
    """Parallel fingers at 0.1 m/s of width that start ``delay_ticks`` periods after a command
    and stop where an object of ``object_m`` width (or ``blocked_at_m`` on the way out) is."""

    max_width = 0.08

    def __init__(self, width: float, delay_ticks: int, object_m: float | None = None,
                 blocked_at_m: float | None = None) -> None:
        self.w = width
        self.target = width
        self.delay = delay_ticks
        self.countdown = 0
        self.object_m = object_m
        self.blocked_at_m = blocked_at_m

    def open(self, width=None) -> None:
        self.target, self.countdown = (self.max_width if width is None else width), self.delay

    def close(self, width=0.0, force=None) -> None:
        self.target, self.countdown = width, self.delay

    def width(self) -> float:
        return self.w

    def grasp_state(self) -> GraspState:
        return GraspState.MOVING

    def tick(self) -> None:
        if self.countdown > 0:
            self.countdown -= 1
            return
        lo = self.object_m if self.object_m is not None and self.target < self.w else 0.0
        hi = self.blocked_at_m if self.blocked_at_m is not None else self.max_width
        step = float(np.clip(self.target - self.w, -0.1 * DT, 0.1 * DT))
        self.w = float(np.clip(self.w + step, max(lo, 0.0) if step < 0 else 0.0, hi if step > 0 else 1.0))


@pytest.fixture(scope="module")
def model():
    return RobotModel.from_spec(load_robot("panda"))


def _skills(model, gripper):
    arm = _Arm(load_robot("panda").home)
    ticks = []

    def tick():
        gripper.tick()
        ticks.append(1)

    return Skills(arm, gripper, model, tick, rng=np.random.default_rng(0)), ticks


def test_a_gripper_that_starts_late_is_waited_for(model):
    # 120 ms before the fingers move: longer than the 50 ms stand-still that ends a command
    g = _Gripper(0.08, delay_ticks=120)
    sk, ticks = _skills(model, g)
    r = sk.grasp(30.0)
    assert r.status == SkillStatus.GRASP_EMPTY and g.w == pytest.approx(0.0)  # closed all the way
    g.object_m = 0.04
    r = sk.release()
    assert r.ok and g.w == pytest.approx(0.08)
    assert len(ticks) > 2 * (120 + 400)  # both waited for the start and the whole travel


def test_a_stalled_squeeze_on_an_object_returns_holding_it(model):
    g = _Gripper(0.08, delay_ticks=30, object_m=0.04)
    sk, ticks = _skills(model, g)
    r = sk.grasp(30.0)
    assert r.ok and r.info["width_m"] == pytest.approx(0.04)
    # 30 periods to start, 400 to close on the object, 50 standing still on it
    assert len(ticks) == pytest.approx(30 + 400 + 50, abs=3)
    # closing again on the part it holds: the fingers do not move; the grasp holds after the
    # time a gripper takes to start, not at the first stand-still
    n = len(ticks)
    assert sk.grasp(30.0).ok and 150 < len(ticks) - n < 300


def test_an_opening_stopped_short_is_a_failed_release(model):
    g = _Gripper(0.04, delay_ticks=10, blocked_at_m=0.045)
    sk, _ = _skills(model, g)
    r = sk.release(width_m=0.05)
    assert r.status == SkillStatus.GRIPPER_FAILED and "45.0 mm" in r.message
    g.blocked_at_m, g.delay = None, 2000  # never starts within the timeout
    r = sk.release(width_m=0.06, timeout_s=0.5)
    assert r.status == SkillStatus.GRIPPER_FAILED, r.message


def test_simulated_fingers_forget_their_contact_points_when_they_open():
    """Bullet keeps a pair's contact points from step to step with the normal each was found
    with; the simulated gripper drops the points its fingers hold when it opens (points found on a
    part's edge would hold the pads against the opening). A block squeezed between the Panda's
    fingers: once the open command is given no contact point is left, and the fingers open to
    10 mm more than the block."""
    import pybullet as p

    from officina.sim.arm import SimArm, SimGripper
    from officina.sim.world import SimWorld

    spec = load_robot("panda")
    model = RobotModel.from_spec(spec)
    with SimWorld() as w:
        h = w.load_robot(spec)
        arm, grip = SimArm(w, h), SimGripper(w, h)
        sk = Skills(arm, grip, model, lambda: w.step(arm.substeps), rng=np.random.default_rng(0))
        w.add_table(top_center_xyz=(0.5, 0.0, 0.0))
        T = model.frame_transform(arm.read().position, "tcp")
        T[:3, 3] = (0.5, 0.0, 0.035)
        assert sk.move_to_pose(T).ok
        tcp = model.frame_transform(sk.q_command, "tcp")
        box = w.add_box((0.04, 0.04, 0.05), 0.2, (tcp[0, 3], tcp[1, 3], 0.025), name="block")
        w.step(50)
        assert sk.grasp(40.0).ok

        def on_fingers():
            return [c for c in p.getContactPoints(bodyA=h.body_id, bodyB=box.body_id, physicsClientId=w.client_id)
                    if c[3] in grip._idx]

        assert on_fingers()
        width = grip.width()
        grip.open(width + 0.01)
        assert not on_fingers()
        r = sk.release(width_m=width + 0.01)
        assert r.ok and abs(grip.width() - width - 0.01) < 1e-3, r.message


class _LaggingArm(_Arm):
    """Reaches each command ``lag`` periods after it was sent, as an arm behind a network does
    (through ROS: the gate, the controller, processes of a busy machine)."""

    def __init__(self, q, lag: int) -> None:
        super().__init__(q)
        self.sent = [self.q.copy()] * (lag + 1)

    def command_positions(self, q, qd=None) -> None:
        self.sent[-1] = np.asarray(q, float)

    def tick(self) -> None:
        self.sent = self.sent[1:] + [self.sent[-1].copy()]
        self.q = self.sent[0].copy()


def test_the_fingers_close_and_open_where_the_arm_was_sent_not_on_the_way(model):
    """An arm 150 periods behind its commands: after a move, grasp and release wait until the
    arm is within 2 mrad of where it was sent before they command the fingers."""
    spec = load_robot("panda")
    arm = _LaggingArm(spec.home, lag=150)
    g = _Gripper(0.08, delay_ticks=5, object_m=0.04)
    errors = {}


    def at(what, f):
        def wrapped(*a, **k):
            errors[what] = float(np.max(np.abs(arm.q - sk.q_command)))
            return f(*a, **k)
        return wrapped

    g.close, g.open = at("close", g.close), at("open", g.open)

    def tick():
        arm.tick()
        g.tick()

    sk = Skills(arm, g, model, tick, rng=np.random.default_rng(0))
    q1 = spec.home + np.array([0.3, 0.2, 0.0, 0.2, 0.0, 0.2, 0.3])
    assert sk.move_joints(q1).ok
    assert np.max(np.abs(arm.q - q1)) > 0.01  # the arm is still on its way
    assert sk.grasp(30.0).ok
    assert errors["close"] < 2e-3, errors
    assert sk.move_joints(spec.home).ok
    assert sk.release().ok
    assert errors["open"] < 2e-3, errors
