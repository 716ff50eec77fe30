"""The PyBullet plant behind the interfaces: arm modes, gripper, F/T sensor, independent worlds."""

import numpy as np
import pybullet as p
import pytest

from officina.controllers.model import RobotModel
from officina.interfaces import Arm, ControlMode, ForceTorqueSensor, Gripper
from officina.robots import load_robot
from officina.sim.arm import SimArm, SimForceTorqueSensor, SimGripper, control_substeps
from officina.sim.world import SimWorld


def test_rates_checked_once():
    assert control_substeps(0.004, 0.001) == 4
    with pytest.raises(ValueError, match="whole multiple"):
        control_substeps(0.0015, 0.001)


@pytest.fixture
def panda_world():
    w = SimWorld()
    w.add_table()
    spec = load_robot("panda")
    h = w.load_robot(spec)
    yield w, h, spec
    w.close()


def test_sim_arm_implements_arm_and_reaches_position(panda_world):
    w, h, spec = panda_world
    arm = SimArm(w, h)
    assert isinstance(arm, Arm)
    target = spec.home + np.array([0.3, -0.2, 0.2, 0.3, 0.0, 0.2, -0.3])
    for a in np.linspace(0.0, 1.0, 1000):  # a ramp, as a trajectory would command it
        arm.command_positions((1 - a) * spec.home + a * target)
        w.step()
    w.step(500)
    s = arm.read()
    assert s.names == spec.joint_names
    assert np.max(np.abs(s.position - target)) < 2e-3
    assert s.stamp == pytest.approx(1.5)


def test_velocity_mode(panda_world):
    w, h, spec = panda_world
    arm = SimArm(w, h)
    arm.set_mode(ControlMode.VELOCITY)
    qd = np.zeros(7)
    qd[0] = 0.5
    arm.command_velocities(qd)
    q0 = arm.read().position
    w.step(400)
    s = arm.read()
    assert s.velocity[0] == pytest.approx(0.5, abs=0.02)
    assert s.position[0] - q0[0] == pytest.approx(0.2, abs=0.02)
    with pytest.raises(RuntimeError, match="velocity mode"):
        arm.command_positions(q0)


def test_torque_mode_gravity_compensation_from_the_model_holds_the_arm(panda_world):
    """Torque mode turns the default motors off; the Pinocchio model's gravity holds the arm."""
    w, h, spec = panda_world
    arm = SimArm(w, h)
    model = RobotModel.from_spec(spec)
    arm.set_mode(ControlMode.TORQUE)
    q0 = arm.read().position
    for _ in range(1000):
        s = arm.read()
        arm.command_torques(model.gravity(s.position) - 2.0 * s.velocity)
        w.step()
    drift = np.max(np.abs(arm.read().position - q0))
    assert drift < 0.02  # the fingers are locked half-open in the model; they are the residual
    # ... and without compensation the arm falls.
    for _ in range(500):
        arm.command_torques(np.zeros(7))
        w.step()
    assert np.max(np.abs(arm.read().position - q0)) > 0.1


@pytest.mark.parametrize("robot", ["panda", "iiwa"])
def test_gripper_holds_a_box_by_friction_only(robot):
    w = SimWorld()
    try:
        w.add_table()
        spec = load_robot(robot)
        h = w.load_robot(spec)
        arm = SimArm(w, h)
        g = SimGripper(w, h)
        assert isinstance(g, Gripper)
        model = RobotModel.from_spec(spec)
        T = model.frame_transform(spec.home, "tcp")
        box = w.add_box((0.04, 0.04, 0.06), 0.25, (T[0, 3], T[1, 3], 0.03))
        ft = SimForceTorqueSensor(w, h, "officina_gripper_mount" if robot == "iiwa" else "panda_hand_joint",
                                  rng=np.random.default_rng(0))
        assert isinstance(ft, ForceTorqueSensor)
        from officina.controllers.ik import solve_ik

        Tg = T.copy()
        Tg[2, 3] = 0.04
        r = solve_ik(model, Tg, "tcp", spec.home)
        assert r.success
        # move down slowly, close, lift
        for a in np.linspace(0, 1, 1500):
            arm.command_positions((1 - a) * spec.home + a * r.q)
            w.step()
        f_before = ft.read().force.copy()
        g.close(0.0, 20.0)
        w.step(800)
        assert g.width() > 0.03
        for a in np.linspace(1, 0, 1500):
            arm.command_positions((1 - a) * spec.home + a * r.q)
            w.step()
        w.step(300)
        pos, _ = w.object_pose(box.body_id)
        assert pos[2] > 0.15  # lifted with the hand
        # no attachment: the only constraint is the fingers' coupling, between two robot links
        cids = [p.getConstraintUniqueId(i, physicsClientId=w.client_id)
                for i in range(p.getNumConstraints(physicsClientId=w.client_id))]
        assert cids == [g.coupling]
        info = p.getConstraintInfo(g.coupling, physicsClientId=w.client_id)
        assert info[0] == info[2] == h.body_id
        # the wrist sensor feels the box's weight (about 2.45 N more along gravity)
        f_after = ft.read().force
        assert abs(np.linalg.norm(f_after - f_before) - 0.25 * 9.81) < 1.0
    finally:
        w.close()


def test_two_worlds_in_one_process_are_independent():
    a, b = SimWorld(), SimWorld()
    try:
        ba = a.add_box((0.1, 0.1, 0.1), 1.0, (0, 0, 1.0))
        bb = b.add_box((0.1, 0.1, 0.1), 1.0, (0, 0, 1.0))
        a.step(300)
        za = a.object_pose(ba.body_id)[0][2]
        zb = b.object_pose(bb.body_id)[0][2]
        assert za < 0.7 and zb == pytest.approx(1.0)
    finally:
        a.close()
        b.close()


def test_touching_and_moving_bodies_for_a_conveyor():
    """`touching` reports the last step's contacts; `set_object_velocity` drives a box along a
    static surface (a kinematic belt) and `set_object_pose` puts it elsewhere at rest."""
    w = SimWorld()
    try:
        table = w.add_table()
        box = w.add_box((0.2, 0.1, 0.1), 2.0, (0.3, 0.0, 0.0501))
        far = w.add_box((0.1, 0.1, 0.1), 1.0, (0.3, 0.4, 0.0501))
        w.step(50)
        assert w.touching(box.body_id, table.body_id) and not w.touching(box.body_id, far.body_id)
        x0 = w.object_pose(box.body_id)[0][0]
        for _ in range(200):  # 0.2 s at 0.25 m/s against friction
            w.set_object_velocity(box.body_id, (0.25, 0.0, 0.0))
            w.step(1)
        assert w.object_pose(box.body_id)[0][0] - x0 == pytest.approx(0.05, abs=2e-3)
        w.set_object_pose(box.body_id, (0.0, -0.3, 0.0501), (0.0, 0.0, np.sin(0.2), np.cos(0.2)))
        lin, ang = w.object_velocity(box.body_id)
        assert np.allclose(lin, 0) and np.allclose(ang, 0)
        w.step(100)
        pos, quat = w.object_pose(box.body_id)
        assert np.allclose(pos[:2], (0.0, -0.3), atol=1e-3) and abs(quat[2] - np.sin(0.2)) < 1e-3
    finally:
        w.close()


def _body_type(world, body_id):
    return p.getDynamicsInfo(body_id, -1, physicsClientId=world.client_id)[10]  # 1 rigid body, 2 multibody


@pytest.mark.parametrize("rigid", [False, True])
def test_objects_have_no_rolling_friction_by_default_and_rigid_bodies_on_request(rigid):
    with SimWorld(rigid_bodies=rigid) as w:
        things = [w.add_table(), w.add_bin((0.4, 0.3, 0.0)), w.add_box((0.04, 0.04, 0.05), 0.2, (0.4, 0, 0.03)),
                  w.add_cylinder(0.02, 0.05, 0.2, (0.5, 0, 0.03))]
        assert [_body_type(w, o.body_id) for o in things] == [1 if rigid else 2] * 4
        for o in things[2:]:
            info = p.getDynamicsInfo(o.body_id, -1, physicsClientId=w.client_id)
            assert info[6] == 0.0 and info[7] == pytest.approx(0.001)  # rolling, spinning friction [m]
        w.step(300)  # a box and a cylinder at rest on the table stay there
        for o in things[2:]:
            assert w.object_pose(o.body_id)[0][:2] == pytest.approx(np.array([0.4, 0.0] if o.kind == "box"
                                                                              else [0.5, 0.0]), abs=1e-4)
    with SimWorld(object_rolling_friction=1e-4) as w:
        box = w.add_box((0.04, 0.04, 0.05), 0.2, (0.4, 0, 0.03))
        assert p.getDynamicsInfo(box.body_id, -1, physicsClientId=w.client_id)[6] == pytest.approx(1e-4)


@pytest.mark.parametrize("kwargs", [{"solver_iterations": 0}, {"solver_residual_threshold": -1.0},
                                    {"object_rolling_friction": -0.1}])
def test_world_settings_checked(kwargs):
    with pytest.raises(ValueError, match="solver_iterations must be"):
        SimWorld(**kwargs)


@pytest.mark.parametrize("robot", ["panda", "ur5e"])
def test_coupled_fingers_hold_a_part_centred_when_pushed_along_their_axis(robot):
    """The fingers move together (a gear constraint, as the gripper's mechanism couples them): a
    held part pushed along the fingers' axis stays centred between them, the push reaching the
    hand, instead of sliding away with both force-limited fingers."""
    w = SimWorld()
    try:
        w.add_table()
        spec = load_robot(robot)
        h = w.load_robot(spec)
        g = SimGripper(w, h)
        model = RobotModel.from_spec(spec)
        T = model.frame_transform(spec.home, "tcp")
        axis = T[:3, 1]  # the fingers close along the tcp's y axis
        # a box 8 mm off centre between the open fingers, at the tcp, weightless
        pos = T[:3, 3] + 0.008 * axis
        box = w.add_box((0.04, 0.04, 0.04), 0.2, pos)
        p.setGravity(0, 0, 0, physicsClientId=w.client_id)
        g.close(0.0, 20.0)
        w.step(600)
        q = [s[0] for s in p.getJointStates(h.body_id, g._idx, physicsClientId=w.client_id)]
        assert abs(q[0] - q[1]) < 5e-4 and g.width() == pytest.approx(0.04, abs=4e-3)
        centred = w.object_pose(box.body_id)[0]
        assert abs((centred - w.tcp_position(h)) @ axis) < 1e-3  # the closing fingers centred it
        for _ in range(1000):  # 10 N along the fingers' axis for 1 s
            pb, _ = w.object_pose(box.body_id)
            p.applyExternalForce(box.body_id, -1, (10.0 * axis).tolist(), pb.tolist(), p.WORLD_FRAME,
                                 physicsClientId=w.client_id)
            w.step()
        pb, _ = w.object_pose(box.body_id)
        assert abs((pb - w.tcp_position(h)) @ axis) < 1e-3
    finally:
        w.close()
