"""Robots as data: the built-in YAML files and a lab's own robot added by path."""

import textwrap

import numpy as np
import pytest

from officina.controllers.model import RobotModel
from officina.errors import BadInput
from officina.robots import builtin_robots, load_robot

ROBOTS = {  # name: (flange, dof, flange -> tcp distance, gripper kind)
    "panda": ("panda_link8", 7, 0.1034, "panda_hand"),
    "iiwa": ("lbr_iiwa_link_7", 7, 0.165, "parallel"),
    "ur5e": ("tool0", 6, 0.12, "parallel"),
    "ur10e": ("tool0", 6, 0.10, "vacuum"),
    "irb2600": ("tool0", 6, 0.10, "vacuum"),
}


def test_builtin_robots_listed():
    assert set(builtin_robots()) >= set(ROBOTS)


@pytest.mark.parametrize("name", list(ROBOTS))
def test_builtin_robot_declares_everything(name):
    flange, dof, tcp_offset, kind = ROBOTS[name]
    s = load_robot(name)
    assert s.flange_frame == flange
    assert s.dof == dof
    lim = s.limits
    for arr in (lim.lower, lim.upper, lim.velocity, lim.acceleration, lim.jerk, lim.effort):
        assert arr.shape == (s.dof,)
    assert np.all(lim.lower < lim.upper)
    assert np.all((s.home >= lim.lower) & (s.home <= lim.upper))
    assert s.gripper is not None and s.gripper.kind == kind
    if kind == "vacuum":
        v = s.gripper.vacuum
        assert s.gripper.finger_joints == () and len(v.cup_links) == 4
        assert s.gripper.max_force_n == pytest.approx(4 * 60e3 * np.pi * 0.025**2)  # 471 N
        assert s.gripper.max_width_m == pytest.approx(0.17)
    else:
        assert s.gripper.max_width_m == pytest.approx(0.08)
    m = RobotModel.from_spec(s)
    # The tcp points down at home (top-down grasps over the table at +x).
    T = m.frame_transform(s.home, "tcp")
    assert T[2, 2] < -0.99
    assert T[0, 3] > 0.25
    # flange -> tcp offset is what the YAML says (along the flange z axis)
    Tf = m.frame_transform(s.home, "flange")
    assert np.linalg.norm(T[:3, 3] - Tf[:3, 3]) == pytest.approx(tcp_offset, abs=2e-3)
    if kind == "vacuum":  # the tcp is the centre of the cup lips
        lips = np.array([m.frame_transform(s.home, c)[:3, 3] for c in s.gripper.vacuum.cup_links])
        np.testing.assert_allclose(lips.mean(axis=0), T[:3, 3], atol=1e-9)


def _write_arm(tmp_path, body: str):
    p = tmp_path / "my_arm.yaml"
    p.write_text(textwrap.dedent(body))
    return p


MY_ARM = """\
    name: my_panda
    description: a lab's own arm file (the Panda again, under another name)
    urdf: pybullet_data:franka_panda/panda.urdf
    base_link: panda_link0
    joints: [panda_joint1, panda_joint2, panda_joint3, panda_joint4, panda_joint5, panda_joint6, panda_joint7]
    limits:
      velocity: [1.0, 1.0, 1.0, 1.0, 1.2, 1.2, 1.2]
      acceleration: [5, 5, 5, 5, 5, 5, 5]
      jerk: [500, 500, 500, 500, 500, 500, 500]
    home: [0.0, -0.785398, 0.0, -2.356194, 0.0, 1.570796, 0.785398]
    flange: panda_link8
    tcp: {parent: panda_hand, xyz: [0, 0, 0.1034]}
    gripper:
      kind: panda_hand
      finger_joints: [panda_finger_joint1, panda_finger_joint2]
      max_width_m: 0.08
      max_force_n: 70
"""


def test_own_robot_by_path(tmp_path):
    s = load_robot(str(_write_arm(tmp_path, MY_ARM)))
    assert s.name == "my_panda"
    # Limits not given in the YAML come from the URDF.
    assert s.limits.lower[0] == pytest.approx(-2.9671)
    assert s.limits.velocity[0] == pytest.approx(1.0)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda t: t.replace("flange: panda_link8", "flange: nope"), "flange 'nope' is not a link"),
        (lambda t: t.replace("panda_joint7]", "panda_joint9]"), "not movable joints"),
        (lambda t: t + "    colour: red\n", "colour: Extra inputs are not permitted"),
        (lambda t: t.replace("jerk: [500, 500, 500, 500, 500, 500, 500]", "jerk: [500]"), "expected 7 values"),
        (lambda t: t.replace("pybullet_data:franka_panda/panda.urdf", "missing.urdf"), "URDF file not found"),
        (lambda t: t.replace("home: [0.0, -0.785398", "home: [0.0, -3.0"),
         r"home pose is outside the joint limits: panda_joint2 at -3 rad, expected -1.8326 to 1.8326"),
    ],
)
def test_bad_robot_files(tmp_path, edit, message):
    p = _write_arm(tmp_path, edit(MY_ARM))
    with pytest.raises(BadInput, match=message):
        load_robot(str(p))


def test_unknown_robot_names_the_valid_ones():
    with pytest.raises(BadInput, match="expected one of iiwa, irb2600, panda, ur10e, ur5e"):
        load_robot("kuka-kr6")


MY_VACUUM_ARM = """\
    name: my_ur5e_vacuum
    description: the UR5e with officina's vacuum gripper, a lab's own file
    urdf: officina:ur5e.urdf
    base_link: base_link
    joints: [shoulder_pan_joint, shoulder_lift_joint, elbow_joint, wrist_1_joint, wrist_2_joint, wrist_3_joint]
    limits:
      acceleration: [3, 3, 3, 3, 3, 3]
      jerk: [100, 100, 100, 100, 100, 100]
    home: [3.1416, -1.5708, 1.5708, -1.5708, -1.5708, 0.0]
    flange: tool0
    tcp: {parent: tool0, xyz: [0, 0, 0.10]}
    gripper:
      kind: vacuum
      urdf: officina:vacuum_gripper.urdf
      mount: {parent: tool0}
      max_width_m: 0.17
      vacuum:
        cups: [vacuum_cup_1, vacuum_cup_2]
        cup_diameter_m: 0.05
        vacuum_kpa: 80
"""


def test_own_robot_with_a_vacuum_gripper(tmp_path):
    s = load_robot(str(_write_arm(tmp_path, MY_VACUUM_ARM)))
    g = s.gripper
    assert g.kind == "vacuum" and g.finger_joints == ()
    assert g.vacuum.cup_links == ("vacuum_cup_1", "vacuum_cup_2")
    # rated force: 2 cups x 80 kPa x lip area; defaults for the seal
    assert g.max_force_n == pytest.approx(2 * 80e3 * np.pi * 0.025**2)
    assert (g.vacuum.seal_angle_deg, g.vacuum.seal_gap_m, g.vacuum.evacuation_time_s) == (5.0, 0.002, 0.05)
    assert RobotModel.from_spec(s).nq == 6  # nothing to lock: the cups are fixed links


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda t: t.replace("vacuum_cup_2]", "vacuum_cup_9]"), r"cups \['vacuum_cup_9'\] are not links"),
        (lambda t: t.replace("      max_width_m: 0.17\n", "      max_width_m: 0.17\n      max_force_n: 300\n"),
         "max_force_n is not given for a vacuum gripper"),
        (lambda t: t.replace("      kind: vacuum\n", "      kind: vacuum\n      finger_joints: [a]\n"),
         "a vacuum gripper has no finger_joints"),
        (lambda t: t.replace("vacuum_kpa: 80", "vacuum_kpa: 150"), "vacuum_kpa: Input should be less than"),
        (lambda t: t.split("      vacuum:\n")[0], "a vacuum gripper needs 'vacuum'"),
        (lambda t: t.replace("kind: vacuum", "kind: parallel"), "'vacuum' is only for kind vacuum"),
    ],
)
def test_bad_vacuum_gripper_files(tmp_path, edit, message):
    p = _write_arm(tmp_path, edit(MY_VACUUM_ARM))
    with pytest.raises(BadInput, match=message):
        load_robot(str(p))


def test_finger_joints_must_be_joints_of_the_urdf(tmp_path):
    p = _write_arm(tmp_path, MY_ARM.replace("panda_finger_joint2]", "panda_finger_joint9]"))
    with pytest.raises(BadInput, match=r"finger_joints \['panda_finger_joint9'\] are not movable joints"):
        load_robot(str(p))


@pytest.mark.parametrize("profile, robot, joints", [
    ("ur10e", "ur10e", ["shoulder_pan_joint", "shoulder_lift_joint", "elbow_joint", "wrist_1_joint",
                        "wrist_2_joint", "wrist_3_joint"]),
    ("irb2600", "irb2600", [f"joint_{i}" for i in range(1, 7)]),
])
def test_ros_profiles_of_the_new_robots(profile, robot, joints):
    """The profile names its driver's joints in the robot's order and its default robot."""
    from officina.ros.robot_profiles import load_profile, resolve_profile

    prof = load_profile(profile)
    assert prof.robot == robot
    r = resolve_profile(load_robot(prof.robot), prof)
    assert list(r.joint_names) == joints
    assert r.finger_joints == ()
