"""Robots as data: the built-in YAML files and a lab's own robot added by path."""

import textwrap

import numpy as np
import pytest

from officina.controllers.model import RobotModel
from officina.errors import BadInput
from officina.robots import builtin_robots, load_robot

FLANGES = {"panda": "panda_link8", "iiwa": "lbr_iiwa_link_7", "ur5e": "tool0"}


def test_builtin_robots_listed():
    assert set(builtin_robots()) >= {"panda", "iiwa", "ur5e"}


@pytest.mark.parametrize("name", ["panda", "iiwa", "ur5e"])
def test_builtin_robot_declares_everything(name):
    s = load_robot(name)
    assert s.flange_frame == FLANGES[name]
    assert s.dof == (6 if name == "ur5e" else 7)
    lim = s.limits
    for arr in (lim.lower, lim.upper, lim.velocity, lim.acceleration, lim.jerk, lim.effort):
        assert arr.shape == (s.dof,)
    assert np.all(lim.lower < lim.upper)
    assert np.all((s.home >= lim.lower) & (s.home <= lim.upper))
    assert s.gripper is not None and s.gripper.max_width_m == pytest.approx(0.08)
    m = RobotModel.from_spec(s)
    # The tcp points down at home (top-down grasps over the table at +x).
    T = m.frame_transform(s.home, "tcp")
    assert T[2, 2] < -0.99
    assert T[0, 3] > 0.25
    # flange -> tcp offset is what the YAML says (along the flange z axis)
    Tf = m.frame_transform(s.home, "flange")
    assert np.linalg.norm(T[:3, 3] - Tf[:3, 3]) == pytest.approx(
        {"panda": 0.1034, "iiwa": 0.165, "ur5e": 0.12}[name], abs=2e-3
    )


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
    ],
)
def test_bad_robot_files(tmp_path, edit, message):
    p = _write_arm(tmp_path, edit(MY_ARM))
    with pytest.raises(BadInput, match=message):
        load_robot(str(p))


def test_unknown_robot_names_the_valid_ones():
    with pytest.raises(BadInput, match="expected one of iiwa, panda, ur5e"):
        load_robot("kuka-kr6")
