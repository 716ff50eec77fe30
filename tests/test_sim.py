"""The PyBullet plant behind the interfaces: arm modes, gripper, F/T sensor, independent worlds."""

import pickle
from dataclasses import FrozenInstanceError, fields

import numpy as np
import pybullet as p
import pytest

from officina.controllers.model import RobotModel
from officina.interfaces import Arm, ControlMode, ForceTorqueSensor, Gripper, JointState
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


def test_position_commands_as_float_lists_move_the_arm_as_arrays_do():
    """`SimArm.command_position_floats` (what `SafeArm` sends the filter's output through) and
    `command_positions` give the same motion, bit for bit, with and without feed-forward."""
    spec = load_robot("panda")
    target = spec.home + np.array([0.3, -0.2, 0.2, 0.3, 0.0, 0.2, -0.3])
    states = []
    for floats in (False, True):
        w = SimWorld()
        arm = SimArm(w, w.load_robot(spec))
        for k, a in enumerate(np.linspace(0.0, 1.0, 300)):
            q, qd = (1 - a) * spec.home + a * target, (target - spec.home) / 0.3 if k % 2 else None
            if floats:
                arm.command_position_floats(q.tolist(), None if qd is None else qd.tolist())
            else:
                arm.command_positions(q, qd)
            w.step()
        s = arm.read()
        states.append(np.concatenate([s.position, s.velocity, s.effort]))
        w.close()
    assert np.array_equal(states[0], states[1])
    assert np.max(np.abs(states[0][:7] - target)) < 0.5 * np.max(np.abs(spec.home - target))  # it moved


def test_the_arms_state_is_the_joint_state_the_constructor_makes(panda_world):
    """`SimArm.read` builds its state with `joint_state`: the same frozen `JointState`, field for
    field, as the constructor makes (equal, same repr, immutable, pickled alike)."""
    w, h, spec = panda_world
    arm = SimArm(w, h)
    w.step(3)
    s = arm.read()
    ref = JointState(s.stamp, s.names, s.position, s.velocity, s.effort)
    assert type(s) is JointState and vars(s) == vars(ref) and list(vars(s)) == [f.name for f in fields(JointState)]
    assert s == ref and repr(s) == repr(ref) and pickle.dumps(s) == pickle.dumps(ref)
    with pytest.raises(FrozenInstanceError):
        s.stamp = 0.0
    with pytest.raises(ValueError, match="read-only"):
        s.position[0] = 0.0


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


def test_contacts_name_the_bodies_and_carry_the_weight():
    w = SimWorld()
    try:
        table = w.add_table()
        box = w.add_box((0.1, 0.1, 0.1), 2.0, (0.3, 0.0, 0.0501))
        other = w.add_box((0.05, 0.05, 0.05), 0.5, (0.6, 0.0, 0.3))  # falls on the table, never on the box
        w.step(300)
        touching = w.contacts(box.body_id)
        assert {c[0] for c in touching} == {table.body_id}
        assert sum(c[3] for c in touching) == pytest.approx(2.0 * 9.81, rel=0.05)
        assert w.contacts(box.body_id, other.body_id) == []
        assert all(c[0] == table.body_id and c[1] == -1 for c in w.contacts(other.body_id, table.body_id))
        assert w.contacts(other.body_id, table.body_id)
    finally:
        w.close()


def test_part_frictions_are_set_and_reset_object_puts_a_part_at_rest():
    w = SimWorld()
    try:
        w.add_table()
        box = w.add_box((0.04, 0.03, 0.02), 0.1, (0.3, 0.0, 0.0101), spinning_friction=0.012, rolling_friction=0.0005)
        cyl = w.add_cylinder(0.025, 0.03, 0.2, (0.5, 0.0, 0.0151))
        info = p.getDynamicsInfo(box.body_id, -1, physicsClientId=w.client_id)
        assert (info[6], info[7]) == pytest.approx((0.0005, 0.012))  # rolling, spinning
        info = p.getDynamicsInfo(cyl.body_id, -1, physicsClientId=w.client_id)
        assert (info[6], info[7]) == pytest.approx((0.0, 0.001))  # the world's defaults
        p.resetBaseVelocity(cyl.body_id, [0.3, 0, 0], [0, 0, 10.0], physicsClientId=w.client_id)
        w.step(5)
        w.reset_object(cyl.body_id, (0.3, 0.2, 0.0151), (0.0, 0.0, 0.3826834, 0.9238795))
        pos, quat = w.object_pose(cyl.body_id)
        np.testing.assert_allclose(pos, [0.3, 0.2, 0.0151], atol=1e-9)
        np.testing.assert_allclose(quat, [0.0, 0.0, 0.3826834, 0.9238795], atol=1e-6)
        lin, ang = w.object_velocity(cyl.body_id)
        assert np.linalg.norm(lin) == 0.0 and np.linalg.norm(ang) == 0.0
    finally:
        w.close()


def test_a_sleeping_heap_wakes_when_touched():
    w = SimWorld()
    try:
        w.add_table()
        a = w.add_box((0.05, 0.05, 0.05), 0.2, (0.3, 0.0, 0.0251))
        b = w.add_box((0.04, 0.04, 0.04), 0.2, (0.3, 0.0, 0.0701))  # on a
        w.step(300)
        for o in (a, b):
            w.sleep(o.body_id)
        w.step(10)
        c = w.add_box((0.05, 0.05, 0.05), 0.5, (0.24, 0.0, 0.0251))
        p.resetBaseVelocity(c.body_id, [1.5, 0, 0], physicsClientId=w.client_id)
        w.step(400)
        # c pushed a, and b on a went along: the island woke up
        assert w.object_pose(a.body_id)[0][0] > 0.33
        assert w.object_pose(b.body_id)[0][0] > 0.31
    finally:
        w.close()


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


def test_an_assembly_is_one_body_of_boxes_and_hulls():
    """16 boxes (PyBullet's most in one compound) and 4 convex hulls: each collides, one body id."""
    with SimWorld() as w:
        boxes = [((0.04, 0.04, 0.02), (0.05 * i, 0.0, 0.0), (0.0, 0.0, 0.0, 1.0)) for i in range(16)]
        cube = np.array([(x, y, z) for x in (-0.02, 0.02) for y in (-0.02, 0.02) for z in (-0.01, 0.01)])
        hulls = [cube + (0.05 * i, 0.0, 0.0) for i in range(16, 20)]
        a = w.add_assembly(boxes, hulls, pos=(0.0, 0.0, 0.1), name="row", collision_margin_m=1e-4)
        assert a.kind == "assembly" and a.size == pytest.approx((0.99, 0.04, 0.02), abs=3e-3)
        for x in (0.05 * 7, 0.05 * 19):
            part = w.add_box((0.01, 0.01, 0.01), 0.01, (x, 0.0, 0.13))
            w.step(500)
            pos, _ = w.object_pose(part.body_id)
            assert pos[2] == pytest.approx(0.1 + 0.01 + 0.005, abs=5e-4)  # resting on the box or hull
            f, n = w.contact_force(part.body_id, a.body_id)
            assert n > 0 and f == pytest.approx([0.0, 0.0, 0.01 * 9.81], abs=1e-3)
        with pytest.raises(ValueError, match="at most 16 boxes"):
            w.add_assembly(boxes * 2)


@pytest.mark.parametrize("slope_first", [True, False])
def test_contact_force_is_the_support_of_a_part_resting_on_a_slope(slope_first):
    """Normal and friction forces together hold the part: their sum is its weight, upwards,
    whichever body was made first (PyBullet's friction forces follow the bodies' ids)."""
    with SimWorld() as w:
        ang = 0.3
        q = (0.0, np.sin(ang / 2), 0.0, np.cos(ang / 2))
        n = np.array([np.sin(ang), 0.0, np.cos(ang)])
        # a slope of 16 boxes, the part on the last one
        boxes = [((0.1, 0.5, 0.02), (0.1 * i - 1.5, 0, 0), (0, 0, 0, 1)) for i in range(16)]

        def part():
            return w.add_box((0.05, 0.05, 0.05), 0.2, n * 0.0351, q, friction=1.0)

        b = None if slope_first else part()
        slope = w.add_assembly(boxes, pos=(0, 0, 0), quat=q, friction=1.0)
        b = part() if b is None else b
        w.step(500)
        f, k = w.contact_force(b.body_id, slope.body_id)
        assert k > 0 and f == pytest.approx([0.0, 0.0, 0.2 * 9.81], abs=2e-3)
        f_back, _ = w.contact_force(slope.body_id, b.body_id)
        assert f_back == pytest.approx(-f, abs=1e-9)


def test_a_small_collision_margin_keeps_box_corners_sharp():
    """PyBullet rounds a box's edges by its collision margin (1 mm by default)."""
    with SimWorld() as w:
        probe = p.createMultiBody(0.0, p.createCollisionShape(p.GEOM_SPHERE, radius=0.001,
                                                              physicsClientId=w.client_id),
                                  physicsClientId=w.client_id)
        gaps = []
        for margin in (None, 1e-4):
            b = w.add_box((0.02, 0.02, 0.02), 1.0, (0, 0, 0), collision_margin_m=margin)
            # a 1 mm sphere 1 mm off the box's corner, along the diagonal
            c = 0.01 + 0.002 / np.sqrt(3)
            p.resetBasePositionAndOrientation(probe, [c, c, c], [0, 0, 0, 1], physicsClientId=w.client_id)
            gaps.append(min(pt[8] for pt in p.getClosestPoints(b.body_id, probe, 0.01,
                                                                 physicsClientId=w.client_id)))
            p.removeBody(b.body_id, physicsClientId=w.client_id)
        assert gaps[0] == pytest.approx(0.001 + 0.001 * (np.sqrt(3) - 1), abs=5e-5)  # a corner rounded by 1 mm
        assert gaps[1] == pytest.approx(0.001 + 0.0001 * (np.sqrt(3) - 1), abs=5e-5)  # by 0.1 mm


def test_an_assembly_hull_collides_with_its_faces_where_they_are_given():
    """A convex solid with a 0.1 mm margin: its faces where its points put them (Bullet inflates
    a hull by its margin; the assembly shrinks it first), a wedge's slanted face too."""
    with SimWorld() as w:
        # a wedge: 2 cm square base, its top face slanted from z = 1 cm (x = 0) to 2 cm (x = 2 cm)
        pts = [(x, y, z) for x in (0.0, 0.02) for y in (0.0, 0.02) for z in (0.0, 0.01 + 0.5 * x)]
        a = w.add_assembly(hulls=[pts], pos=(0.0, 0.0, 0.0), collision_margin_m=1e-4)
        probe = p.createMultiBody(0.0, p.createCollisionShape(p.GEOM_SPHERE, radius=0.001,
                                                              physicsClientId=w.client_id),
                                  physicsClientId=w.client_id)
        n = np.array([-0.5, 0.0, 1.0]) / np.sqrt(1.25)  # the slanted face's normal
        for on_face, normal in [((0.0, 0.01, 0.005), (-1.0, 0.0, 0.0)), ((0.01, 0.01, 0.015), n),
                                ((0.01, 0.02, 0.005), (0.0, 1.0, 0.0))]:
            # a 1 mm sphere centred 2 mm off the face: 1 mm gap
            c = np.asarray(on_face) + 0.002 * np.asarray(normal)
            p.resetBasePositionAndOrientation(probe, c.tolist(), [0, 0, 0, 1], physicsClientId=w.client_id)
            d = min(pt[8] for pt in p.getClosestPoints(a.body_id, probe, 0.01, physicsClientId=w.client_id))
            assert d == pytest.approx(0.001, abs=2e-5), (on_face, d)
        with pytest.raises(ValueError, match="no volume"):
            w.add_assembly(hulls=[[(0, 0, 0), (1, 0, 0), (0, 1, 0), (1, 1, 0)]])


def test_world_moves_recolours_and_senses_bodies_for_scene_processes():
    """What a task's scene process uses: a static body moved kinematically (a door), recoloured,
    contact points with the bodies and links that touch, and a sensor volume that collides with
    nothing and cameras do not see, queried by distance."""
    from officina.controllers.planning.scene import Box, Obstacle, PlanningScene
    from officina.interfaces import CameraIntrinsics
    from officina.sim.camera import SimCamera, look_at

    w = SimWorld()
    try:
        table = w.add_table()
        (door,) = w.add_planning_scene(PlanningScene([Obstacle("door", Box((0.02, 0.3, 0.3)), (0.5, 0.0, 0.15))]))
        box = w.add_box((0.05, 0.05, 0.05), 0.2, (0.3, 0.0, 0.025))
        w.step(50)
        touching = w.contact_points(box.body_id)
        assert touching and {c.body_b for c in touching} == {table.body_id}
        assert all(c.body_a == box.body_id and c.link_a == -1 and c.normal_force_n >= 0 for c in touching)
        assert sum(c.normal_force_n for c in touching) == pytest.approx(0.2 * 9.81, rel=0.05)
        assert w.contact_points(box.body_id, door.body_id) == []
        # the door slides onto the box: it pushes it, and they touch
        for k in range(200):
            w.set_object_pose(door.body_id, (0.5 - 0.001 * k, 0.0, 0.15))
            w.step()
        pos, _ = w.object_pose(door.body_id)
        assert pos[0] == pytest.approx(0.301)
        assert w.contact_points(box.body_id, door.body_id)
        assert w.object_pose(box.body_id)[0][0] < 0.3 - 0.005
        w.set_object_color(box.body_id, (0.1, 0.9, 0.1, 1.0))
        # a sensor volume: nothing rests on it, it sees the box inside it, a camera does not see it
        sensor = w.add_sensor_box((0.3, 0.3, 0.1), (0.2, 0.2, 0.2))
        probe = w.add_box((0.04, 0.04, 0.04), 0.1, (0.3, 0.3, 0.1))
        assert w.closest_distance(probe.body_id, sensor.body_id) < 0  # inside
        assert w.closest_distance(door.body_id, sensor.body_id) is None
        assert w.closest_distance(door.body_id, sensor.body_id, 1.0) == pytest.approx(0.05, abs=1e-3)  # along y
        w.step(300)
        assert w.object_pose(probe.body_id)[0][2] == pytest.approx(0.02, abs=2e-3)  # fell through it
        cam = SimCamera(w.client_id, CameraIntrinsics.from_fov(160, 120, 40.0),
                        look_at((0.3, 0.3, 1.0), (0.3, 0.3, 0.0), up=(-1.0, 0.0, 0.0)), near=0.05, far=3.0)
        depth = cam.capture().depth_m
        assert float(np.nanmin(depth[40:80, 60:100])) > 1.0 - 0.045  # the probe's top, not the sensor's
    finally:
        w.close()
