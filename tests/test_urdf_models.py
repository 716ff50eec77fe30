"""The project's own robot models: the UR5e, UR10e and ABB IRB 2600 arms and the parallel and
vacuum grippers in sim/models/.

Checks that they load in PyBullet (DIRECT, own client) and in Pinocchio, that joint names
and limits are what the files declare, that the arms' kinematics equal the published DH tables
(Universal Robots') or a DH table derived from the vendor's published dimensions (ABB's), that
the inertial data is physical and follows the stated sources or estimation rules, and that the
parallel gripper, force-limited, holds and lifts a 0.2 kg box without slipping.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

pin = pytest.importorskip("pinocchio")
p = pytest.importorskip("pybullet")

MODELS = Path(__file__).resolve().parents[1] / "sim" / "models"
UR5E = MODELS / "ur5e.urdf"
GRIPPER = MODELS / "parallel_gripper.urdf"

TWO_PI = 2.0 * math.pi

UR5E_JOINTS = [
    "shoulder_pan_joint",
    "shoulder_lift_joint",
    "elbow_joint",
    "wrist_1_joint",
    "wrist_2_joint",
    "wrist_3_joint",
]
UR5E_LINKS = [
    "base_link",
    "shoulder_link",
    "upper_arm_link",
    "forearm_link",
    "wrist_1_link",
    "wrist_2_link",
    "wrist_3_link",
    "tool0",
]
# name: (lower, upper, velocity rad/s, effort N m)
UR5E_LIMITS = {
    "shoulder_pan_joint": (-TWO_PI, TWO_PI, 3.14159, 150.0),
    "shoulder_lift_joint": (-TWO_PI, TWO_PI, 3.14159, 150.0),
    "elbow_joint": (-math.pi, math.pi, 3.14159, 150.0),
    "wrist_1_joint": (-TWO_PI, TWO_PI, 3.14159, 28.0),
    "wrist_2_joint": (-TWO_PI, TWO_PI, 3.14159, 28.0),
    "wrist_3_joint": (-TWO_PI, TWO_PI, 3.14159, 28.0),
}
# Universal Robots, "DH parameters for calculations of kinematics and dynamics", UR5e.
UR5E_DH_A = [0.0, -0.425, -0.3922, 0.0, 0.0, 0.0]
UR5E_DH_D = [0.1625, 0.0, 0.0, 0.1333, 0.0997, 0.0996]
UR5E_DH_ALPHA = [math.pi / 2, 0.0, 0.0, math.pi / 2, -math.pi / 2, 0.0]
UR5E_LINK_MASSES = {
    "shoulder_link": 3.761,
    "upper_arm_link": 8.058,
    "forearm_link": 2.846,
    "wrist_1_link": 1.37,
    "wrist_2_link": 1.3,
    "wrist_3_link": 0.365,
}

UR10E = MODELS / "ur10e.urdf"
# name: (lower, upper, velocity rad/s, effort N m): UR10e datasheet, UR's "Max. joint torques"
UR10E_LIMITS = {
    "shoulder_pan_joint": (-TWO_PI, TWO_PI, 2.0944, 330.0),
    "shoulder_lift_joint": (-TWO_PI, TWO_PI, 2.0944, 330.0),
    "elbow_joint": (-math.pi, math.pi, 3.14159, 150.0),
    "wrist_1_joint": (-TWO_PI, TWO_PI, 3.14159, 56.0),
    "wrist_2_joint": (-TWO_PI, TWO_PI, 3.14159, 56.0),
    "wrist_3_joint": (-TWO_PI, TWO_PI, 3.14159, 56.0),
}
# Universal Robots, "DH parameters for calculations of kinematics and dynamics", UR10e.
UR10E_DH = (
    [0.1807, 0.0, 0.0, 0.17415, 0.11985, 0.11655],
    [0.0, -0.6127, -0.57155, 0.0, 0.0, 0.0],
    [math.pi / 2, 0.0, 0.0, math.pi / 2, -math.pi / 2, 0.0],
    [0.0] * 6,
)
UR10E_LINK_MASSES = {
    "shoulder_link": 7.369,
    "upper_arm_link": 13.051,
    "forearm_link": 3.989,
    "wrist_1_link": 2.1,
    "wrist_2_link": 1.98,
    "wrist_3_link": 0.615,
}
UR10E_COM_DH = [  # centre of mass of link i in DH frame i, as UR publishes them
    [0.021, 0.000, 0.027],
    [0.38, 0.000, 0.158],
    [0.24, 0.000, 0.068],
    [0.000, 0.007, 0.018],
    [0.000, 0.007, 0.018],
    [0.0, 0.0, -0.026],
]

IRB2600 = MODELS / "irb2600.urdf"
IRB2600_JOINTS = [f"joint_{i}" for i in range(1, 7)]
DEG = math.pi / 180.0
# ABB IRB 2600 data sheet: axis ranges and speeds (deg, deg/s)
IRB2600_RANGES_DEG = [(-180, 180), (-95, 155), (-180, 75), (-400, 400), (-120, 120), (-400, 400)]
IRB2600_SPEEDS_DEG = [175, 175, 175, 360, 360, 500]
# Standard DH table derived from ABB's dimension drawing (mm: 445, 150, 700, 115, 795, 85) and
# ABB's axis directions: (d, a, alpha, theta offset).
IRB2600_DH = (
    [0.445, 0.0, 0.0, 0.795, 0.0, 0.085],
    [0.15, 0.70, 0.115, 0.0, 0.0, 0.0],
    [-math.pi / 2, 0.0, -math.pi / 2, math.pi / 2, -math.pi / 2, 0.0],
    [0.0, -math.pi / 2, 0.0, 0.0, 0.0, math.pi],
)
IRB2600_TOTAL_MASS_KG = 272.0

VACUUM = MODELS / "vacuum_gripper.urdf"
VACUUM_CUPS = {  # cup link: lip centre in vacuum_base
    "vacuum_cup_1": (0.06, 0.04, 0.10),
    "vacuum_cup_2": (-0.06, 0.04, 0.10),
    "vacuum_cup_3": (-0.06, -0.04, 0.10),
    "vacuum_cup_4": (0.06, -0.04, 0.10),
}

GRIPPER_LIMITS = {  # name: (lower, upper, velocity m/s, effort N)
    "gripper_finger_joint1": (0.0, 0.04, 0.2, 40.0),
    "gripper_finger_joint2": (0.0, 0.04, 0.2, 40.0),
}
GRIPPER_TCP_Z = 0.12


# ----------------------------------------------------------------------------- helpers


def dh_fk(q, table=None) -> np.ndarray:
    """Standard DH product T_0^6 (UR's convention: Rz(theta + offset) Tz(d) Tx(a) Rx(alpha)).
    ``table``: (d, a, alpha, theta offsets); default the UR5e's."""
    d_, a_, al_, off = table or (UR5E_DH_D, UR5E_DH_A, UR5E_DH_ALPHA, [0.0] * 6)
    T = np.eye(4)
    for th, d, a, al, o in zip(q, d_, a_, al_, off):
        th = th + o
        ct, st, ca, sa = math.cos(th), math.sin(th), math.cos(al), math.sin(al)
        T = T @ np.array(
            [
                [ct, -st * ca, st * sa, a * ct],
                [st, ct * ca, -ct * sa, a * st],
                [0.0, sa, ca, d],
                [0.0, 0.0, 0.0, 1.0],
            ]
        )
    return T


def robot_body(urdf_text: str) -> str:
    """The inside of <robot ...>...</robot>, for merging one URDF into another."""
    m = re.search(r"<robot\b[^>]*>(.*)</robot>", urdf_text, flags=re.DOTALL)
    assert m, "no <robot> element"
    return m.group(1)


@pytest.fixture
def bullet():
    cid = p.connect(p.DIRECT)
    try:
        yield cid
    finally:
        p.disconnect(physicsClientId=cid)


def bullet_joints(body: int, cid: int) -> dict[str, tuple]:
    """joint name -> getJointInfo tuple (index in [0])."""
    out = {}
    for j in range(p.getNumJoints(body, physicsClientId=cid)):
        info = p.getJointInfo(body, j, physicsClientId=cid)
        out[info[1].decode()] = info
    return out


def bullet_links(body: int, cid: int) -> dict[str, int]:
    out = {}
    for j in range(p.getNumJoints(body, physicsClientId=cid)):
        out[p.getJointInfo(body, j, physicsClientId=cid)[12].decode()] = j
    return out


def inertials(path: Path) -> dict[str, tuple[float, np.ndarray]]:
    """link name -> (mass, 3x3 inertia) from the URDF text; every link must have one."""
    out = {}
    for link in ET.parse(path).getroot().findall("link"):
        inertial = link.find("inertial")
        assert inertial is not None, f"{path.name}: link {link.get('name')} has no <inertial>"
        mass = float(inertial.find("mass").get("value"))
        i = {k: float(v) for k, v in inertial.find("inertia").attrib.items()}
        inertia = np.array(
            [
                [i["ixx"], i["ixy"], i["ixz"]],
                [i["ixy"], i["iyy"], i["iyz"]],
                [i["ixz"], i["iyz"], i["izz"]],
            ]
        )
        out[link.get("name")] = (mass, inertia)
    return out


# ----------------------------------------------------------------------------- UR5e


def test_ur5e_pinocchio_joints_and_limits():
    model = pin.buildModelFromUrdf(str(UR5E))
    assert model.nq == 6 and model.nv == 6
    assert [model.names[i] for i in range(1, model.njoints)] == UR5E_JOINTS
    for name, (lo, hi, vel, eff) in UR5E_LIMITS.items():
        jid = model.getJointId(name)
        iq = model.joints[jid].idx_q
        iv = model.joints[jid].idx_v
        assert model.lowerPositionLimit[iq] == pytest.approx(lo, abs=1e-12)
        assert model.upperPositionLimit[iq] == pytest.approx(hi, abs=1e-12)
        assert model.velocityLimit[iv] == pytest.approx(vel, abs=1e-12)
        assert model.effortLimit[iv] == pytest.approx(eff, abs=1e-12)
    for link in UR5E_LINKS:
        assert model.existFrame(link), link


def test_ur5e_fk_matches_published_dh():
    model = pin.buildModelFromUrdf(str(UR5E))
    data = model.createData()
    tool0 = model.getFrameId("tool0")
    rng = np.random.default_rng(20240601)
    lo, hi = model.lowerPositionLimit, model.upperPositionLimit
    worst = 0.0
    for _ in range(100):
        q = rng.uniform(lo, hi)
        pin.framesForwardKinematics(model, data, q)
        worst = max(worst, float(np.abs(data.oMf[tool0].homogeneous - dh_fk(q)).max()))
    assert worst < 1e-9, worst
    # zero pose: the arm stretched out along -x of UR's base frame, flange facing -y
    pin.framesForwardKinematics(model, data, np.zeros(6))
    np.testing.assert_allclose(
        data.oMf[tool0].translation,
        [-0.425 - 0.3922, -0.1333 - 0.0996, 0.1625 - 0.0997],
        atol=1e-12,
    )


def test_ur5e_pybullet_loads_and_agrees_with_pinocchio(bullet):
    body = p.loadURDF(
        str(UR5E), useFixedBase=True, flags=p.URDF_USE_INERTIA_FROM_FILE, physicsClientId=bullet
    )
    joints = bullet_joints(body, bullet)
    movable = [n for n, info in joints.items() if info[2] == p.JOINT_REVOLUTE]
    assert movable == UR5E_JOINTS
    for name, (lo, hi, vel, eff) in UR5E_LIMITS.items():
        info = joints[name]
        assert info[8] == pytest.approx(lo) and info[9] == pytest.approx(hi)
        assert info[11] == pytest.approx(vel) and info[10] == pytest.approx(eff)
    links = bullet_links(body, bullet)
    assert set(links) == set(UR5E_LINKS) - {"base_link"}
    for name, mass in UR5E_LINK_MASSES.items():
        assert p.getDynamicsInfo(body, links[name], physicsClientId=bullet)[0] == pytest.approx(
            mass
        )
    assert p.getDynamicsInfo(body, links["tool0"], physicsClientId=bullet)[0] < 1e-3

    model = pin.buildModelFromUrdf(str(UR5E))
    data = model.createData()
    tool0 = model.getFrameId("tool0")
    rng = np.random.default_rng(7)
    for _ in range(10):
        q = rng.uniform(-math.pi, math.pi, 6)
        for name, qi in zip(UR5E_JOINTS, q):
            p.resetJointState(body, joints[name][0], qi, physicsClientId=bullet)
        state = p.getLinkState(
            body, links["tool0"], computeForwardKinematics=True, physicsClientId=bullet
        )
        pos, quat = np.array(state[4]), np.array(state[5])
        pin.framesForwardKinematics(model, data, q)
        M = data.oMf[tool0]
        np.testing.assert_allclose(pos, M.translation, atol=1e-6)
        R = np.array(p.getMatrixFromQuaternion(quat)).reshape(3, 3)
        np.testing.assert_allclose(R, M.rotation, atol=1e-6)


# ----------------------------------------------------------------------------- UR10e


def _check_limits(model, limits):
    for name, (lo, hi, vel, eff) in limits.items():
        jid = model.getJointId(name)
        iq, iv = model.joints[jid].idx_q, model.joints[jid].idx_v
        assert model.lowerPositionLimit[iq] == pytest.approx(lo, abs=1e-9), name
        assert model.upperPositionLimit[iq] == pytest.approx(hi, abs=1e-9), name
        assert model.velocityLimit[iv] == pytest.approx(vel, abs=1e-4), name
        assert model.effortLimit[iv] == pytest.approx(eff, abs=1e-9), name


def dh_max_error(path: Path, table, n: int = 200, seed: int = 20240601) -> float:
    """Largest element difference between tool0 from the URDF (Pinocchio) and the DH product,
    over n seeded random configurations within the joint limits."""
    model = pin.buildModelFromUrdf(str(path))
    data = model.createData()
    tool0 = model.getFrameId("tool0")
    rng = np.random.default_rng(seed)
    worst = 0.0
    for _ in range(n):
        q = rng.uniform(model.lowerPositionLimit, model.upperPositionLimit)
        pin.framesForwardKinematics(model, data, q)
        worst = max(worst, float(np.abs(data.oMf[tool0].homogeneous - dh_fk(q, table)).max()))
    return worst


def test_ur10e_pinocchio_joints_and_limits():
    model = pin.buildModelFromUrdf(str(UR10E))
    assert model.nq == 6 and model.nv == 6
    assert [model.names[i] for i in range(1, model.njoints)] == UR5E_JOINTS
    _check_limits(model, UR10E_LIMITS)
    for link in UR5E_LINKS:
        assert model.existFrame(link), link


def test_ur10e_fk_matches_published_dh():
    assert dh_max_error(UR10E, UR10E_DH) < 1e-9
    model = pin.buildModelFromUrdf(str(UR10E))
    data = model.createData()
    pin.framesForwardKinematics(model, data, np.zeros(6))
    # zero pose: stretched out along -x of UR's base frame, flange facing -y
    np.testing.assert_allclose(
        data.oMf[model.getFrameId("tool0")].translation,
        [-0.6127 - 0.57155, -0.17415 - 0.11655, 0.1807 - 0.11985],
        atol=1e-12,
    )


def test_ur10e_masses_and_centres_of_mass_are_urs_published_figures():
    """Masses and CoMs as UR publishes them, the CoMs mapped from DH frame i to the link frame
    (DH frame i = link_i * Tx(a_i) Rx(alpha_i))."""
    ins = inertials(UR10E)
    model = pin.buildModelFromUrdf(str(UR10E))
    d_, a_, al_, _ = UR10E_DH
    for i, (name, mass) in enumerate(UR10E_LINK_MASSES.items()):
        assert ins[name][0] == pytest.approx(mass)
        com_link = model.inertias[i + 1].lever
        dh_T_link = pin.SE3(pin.utils.rotate("x", al_[i]), np.array([a_[i], 0.0, 0.0]))
        # (atol: tool0's 1e-6 kg placeholder is merged into wrist_3 by Pinocchio)
        np.testing.assert_allclose(com_link, dh_T_link.act(np.array(UR10E_COM_DH[i])), atol=1e-6)


def test_ur10e_pybullet_agrees_with_pinocchio(bullet):
    _pybullet_agrees(UR10E, UR5E_JOINTS, bullet)


def _pybullet_agrees(path, joint_names, cid, n=10):
    body = p.loadURDF(str(path), useFixedBase=True, flags=p.URDF_USE_INERTIA_FROM_FILE, physicsClientId=cid)
    joints = bullet_joints(body, cid)
    links = bullet_links(body, cid)
    assert [n for n, info in joints.items() if info[2] == p.JOINT_REVOLUTE] == joint_names
    model = pin.buildModelFromUrdf(str(path))
    data = model.createData()
    tool0 = model.getFrameId("tool0")
    for name in joint_names:  # masses: PyBullet reads what Pinocchio reads
        link = joints[name][12].decode()
        assert p.getDynamicsInfo(body, links[link], physicsClientId=cid)[0] == pytest.approx(
            model.inertias[model.getJointId(name)].mass, abs=1e-5)  # Pinocchio adds tool0's 1e-6 kg
    rng = np.random.default_rng(7)
    for _ in range(n):
        q = rng.uniform(model.lowerPositionLimit, model.upperPositionLimit)
        for name, qi in zip(joint_names, q):
            p.resetJointState(body, joints[name][0], qi, physicsClientId=cid)
        state = p.getLinkState(body, links["tool0"], computeForwardKinematics=True, physicsClientId=cid)
        pin.framesForwardKinematics(model, data, q)
        np.testing.assert_allclose(state[4], data.oMf[tool0].translation, atol=1e-6)
        R = np.array(p.getMatrixFromQuaternion(state[5])).reshape(3, 3)
        np.testing.assert_allclose(R, data.oMf[tool0].rotation, atol=1e-6)


# ----------------------------------------------------------------------------- ABB IRB 2600


def test_irb2600_joints_and_limits_are_abbs():
    model = pin.buildModelFromUrdf(str(IRB2600))
    assert [model.names[i] for i in range(1, model.njoints)] == IRB2600_JOINTS
    for i, name in enumerate(IRB2600_JOINTS):
        iq = model.joints[model.getJointId(name)].idx_q
        lo, hi = IRB2600_RANGES_DEG[i]
        assert model.lowerPositionLimit[iq] == pytest.approx(lo * DEG, abs=1e-4), name
        assert model.upperPositionLimit[iq] == pytest.approx(hi * DEG, abs=1e-4), name
        assert model.velocityLimit[iq] == pytest.approx(IRB2600_SPEEDS_DEG[i] * DEG, abs=1e-4), name


def test_irb2600_fk_matches_dh_from_abbs_dimensions():
    assert dh_max_error(IRB2600, IRB2600_DH) < 1e-9


def test_irb2600_follows_abbs_conventions():
    """Zero pose (ABB's calibration position), tool0 axes, axis directions and reach."""
    model = pin.buildModelFromUrdf(str(IRB2600))
    data = model.createData()
    tool0 = model.getFrameId("tool0")

    def fk(q):
        pin.framesForwardKinematics(model, data, np.asarray(q, float))
        return data.oMf[tool0].copy()

    T0 = fk(np.zeros(6))
    np.testing.assert_allclose(T0.translation, [0.15 + 0.795 + 0.085, 0.0, 0.445 + 0.70 + 0.115], atol=1e-12)
    np.testing.assert_allclose(T0.rotation[:, 2], [1, 0, 0], atol=1e-12)  # flange faces forward
    np.testing.assert_allclose(T0.rotation[:, 0], [0, 0, -1], atol=1e-12)  # tool0 x down
    # positive axis 2 tilts the arm forward, positive axis 3 and 5 turn the forearm / flange down
    assert fk([0, 0.2, 0, 0, 0, 0]).translation[0] > T0.translation[0]
    assert fk([0, 0, 0.2, 0, 0, 0]).translation[2] < T0.translation[2]
    assert fk([0, 0, 0, 0, 0.2, 0]).rotation[2, 2] < 0
    assert fk([0.2, 0, 0, 0, 0, 0]).translation[1] > 0  # axis 1 counter-clockwise from above
    # wrist-centre reach (horizontal distance from axis 1): ABB's 1.65 m
    wrist = model.getFrameId("link_5")
    rng = np.random.default_rng(3)
    reach = 0.0
    for _ in range(4000):
        q = rng.uniform(model.lowerPositionLimit, model.upperPositionLimit)
        pin.framesForwardKinematics(model, data, q)
        reach = max(reach, float(np.linalg.norm(data.oMf[wrist].translation[:2])))
    assert 1.60 < reach <= 0.15 + 0.70 + math.hypot(0.115, 0.795) + 1e-9


def _collision_volume(link: ET.Element) -> float:
    cols = link.findall("collision")
    assert len(cols) == 1, link.get("name")
    g = cols[0].find("geometry")
    if g.find("box") is not None:
        return float(np.prod([float(v) for v in g.find("box").get("size").split()]))
    c = g.find("cylinder")
    return math.pi * float(c.get("radius")) ** 2 * float(c.get("length"))


def test_irb2600_masses_follow_the_stated_rule():
    """ABB's 272 kg spread over the links in proportion to their shapes' volumes (one density),
    inertias those of the solid shapes about their centres."""
    root = ET.parse(IRB2600).getroot()
    ins = inertials(IRB2600)
    links = [link for link in root.findall("link") if link.get("name") != "tool0"]
    vol = {link.get("name"): _collision_volume(link) for link in links}
    total = sum(ins[n][0] for n in vol)
    assert total == pytest.approx(IRB2600_TOTAL_MASS_KG, abs=0.01)
    density = total / sum(vol.values())
    for link in links:
        name = link.get("name")
        mass, inertia = ins[name]
        assert mass == pytest.approx(density * vol[name], rel=1e-3), name
        g = link.find("collision").find("geometry")
        if g.find("box") is not None:
            x, y, z = (float(v) for v in g.find("box").get("size").split())
            expected = np.diag([y * y + z * z, x * x + z * z, x * x + y * y]) * mass / 12
        else:
            c = g.find("cylinder")
            r, L = float(c.get("radius")), float(c.get("length"))
            rpy = [float(v) for v in link.find("collision").find("origin").get("rpy").split()]
            axis = "z" if not any(rpy) else ("x" if abs(rpy[1]) > 1 else "y")
            ia, it = mass * r * r / 2, mass * (3 * r * r + L * L) / 12
            expected = np.diag({"x": [ia, it, it], "y": [it, ia, it], "z": [it, it, ia]}[axis])
        np.testing.assert_allclose(inertia, expected, rtol=1e-4, err_msg=name)
        # the centre of mass is the shape's centre
        com = [float(v) for v in link.find("inertial").find("origin").get("xyz").split()]
        np.testing.assert_allclose(com, [float(v) for v in link.find("collision").find("origin").get("xyz").split()])


def test_irb2600_torque_limits_carry_the_rated_payload():
    """The estimated joint torques exceed the static load of 20 kg at the flange everywhere."""
    model = pin.buildModelFromUrdf(str(IRB2600))
    f = model.frames[model.getFrameId("tool0")]
    c = (f.placement * pin.SE3(np.eye(3), np.array([0.1, 0.0, 0.1]))).translation
    model.inertias[f.parentJoint] += pin.Inertia(20.0, c, np.eye(3) * 20.0 * 0.08 / 12)
    data = model.createData()
    rng = np.random.default_rng(1)
    worst = np.zeros(6)
    for _ in range(2000):
        q = rng.uniform(model.lowerPositionLimit, model.upperPositionLimit)
        worst = np.maximum(worst, np.abs(pin.computeGeneralizedGravity(model, data, q)))
    assert np.all(model.effortLimit >= 1.2 * worst), (model.effortLimit, worst)


def test_irb2600_pybullet_agrees_with_pinocchio(bullet):
    _pybullet_agrees(IRB2600, IRB2600_JOINTS, bullet)


# ----------------------------------------------------------------------------- vacuum gripper


def test_vacuum_gripper_frames():
    model = pin.buildModelFromUrdf(str(VACUUM))
    assert model.nq == 0  # no moving parts: suction is simulated by officina.sim.vacuum
    data = model.createData()
    pin.framesForwardKinematics(model, data, np.zeros(0))
    for cup, xyz in VACUUM_CUPS.items():
        M = data.oMf[model.getFrameId(cup)]
        np.testing.assert_allclose(M.translation, xyz, atol=1e-12)
        np.testing.assert_allclose(M.rotation, np.eye(3), atol=1e-12)  # z out of the cup
    np.testing.assert_allclose(data.oMf[model.getFrameId("vacuum_tcp")].translation, [0, 0, 0.10], atol=1e-12)
    # the cups' footprint (lips of 50 mm) is 0.17 x 0.13 m: max_width_m of the robot files
    xy = np.array([v[:2] for v in VACUUM_CUPS.values()])
    np.testing.assert_allclose(xy.max(axis=0) - xy.min(axis=0) + 0.05, [0.17, 0.13], atol=1e-12)


def test_vacuum_gripper_pybullet_loads(bullet):
    body = p.loadURDF(str(VACUUM), useFixedBase=True, flags=p.URDF_USE_INERTIA_FROM_FILE, physicsClientId=bullet)
    links = bullet_links(body, bullet)
    assert set(links) == set(VACUUM_CUPS) | {"vacuum_tcp"}
    for cup in VACUUM_CUPS:
        info = p.getDynamicsInfo(body, links[cup], physicsClientId=bullet)
        assert info[0] == pytest.approx(0.03) and info[1] == pytest.approx(0.8)  # mass, lip friction
        # the lip (collision) ends in the cup frame's xy plane
        lo, _hi = p.getAABB(body, links[cup], physicsClientId=bullet)
        state = p.getLinkState(body, links[cup], physicsClientId=bullet)
        assert _hi[2] == pytest.approx(state[4][2], abs=2e-3)


# ----------------------------------------------------------------------------- every model


@pytest.mark.parametrize("path", [UR5E, UR10E, IRB2600, GRIPPER, VACUUM], ids=lambda x: x.name)
def test_inertials_are_physical(path):
    for name, (mass, inertia) in inertials(path).items():
        assert mass > 0.0, name
        np.testing.assert_allclose(inertia, inertia.T)
        principal = np.linalg.eigvalsh(inertia)
        assert principal.min() > 0.0, name
        a, b, c = principal
        tol = 1e-12 * principal.max()
        assert a + b >= c - tol and a + c >= b - tol and b + c >= a - tol, name


def test_ur5e_masses_are_urs_published_figures():
    ins = inertials(UR5E)
    for name, mass in UR5E_LINK_MASSES.items():
        assert ins[name][0] == pytest.approx(mass)
    model = pin.buildModelFromUrdf(str(UR5E))
    moving = sum(model.inertias[i].mass for i in range(1, model.njoints))
    assert moving == pytest.approx(sum(UR5E_LINK_MASSES.values()), abs=1e-5)


# ----------------------------------------------------------------------------- gripper


def test_gripper_pinocchio():
    model = pin.buildModelFromUrdf(str(GRIPPER))
    assert [model.names[i] for i in range(1, model.njoints)] == list(GRIPPER_LIMITS)
    for name, (lo, hi, vel, eff) in GRIPPER_LIMITS.items():
        jid = model.getJointId(name)
        iq, iv = model.joints[jid].idx_q, model.joints[jid].idx_v
        assert (model.lowerPositionLimit[iq], model.upperPositionLimit[iq]) == pytest.approx(
            (lo, hi)
        )
        assert (model.velocityLimit[iv], model.effortLimit[iv]) == pytest.approx((vel, eff))
    data = model.createData()
    pin.framesForwardKinematics(model, data, np.zeros(model.nq))
    tcp = data.oMf[model.getFrameId("gripper_tcp")]
    np.testing.assert_allclose(tcp.translation, [0, 0, GRIPPER_TCP_Z], atol=1e-12)
    np.testing.assert_allclose(tcp.rotation, np.eye(3), atol=1e-12)
    root = ET.parse(GRIPPER).getroot()
    child_links = {j.find("child").get("link") for j in root.findall("joint")}
    roots = [
        link.get("name") for link in root.findall("link") if link.get("name") not in child_links
    ]
    assert roots == ["gripper_base"]


def test_gripper_merged_on_ur5e_flange():
    """The way the project uses the gripper: its URDF body merged into the arm's URDF."""
    arm = UR5E.read_text()
    mount = (
        '<joint name="tool0-gripper_base_fixed_joint" type="fixed">'
        '<parent link="tool0"/><child link="gripper_base"/>'
        '<origin xyz="0 0 0" rpy="0 0 0"/></joint>'
    )
    merged = arm.replace("</robot>", mount + robot_body(GRIPPER.read_text()) + "</robot>")
    model = pin.buildModelFromXML(merged)
    assert model.nq == 8
    data = model.createData()
    q = np.random.default_rng(3).uniform(-1, 1, model.nq)
    pin.framesForwardKinematics(model, data, q)
    flange_to_tcp = data.oMf[model.getFrameId("tool0")].actInv(
        data.oMf[model.getFrameId("gripper_tcp")]
    )
    np.testing.assert_allclose(flange_to_tcp.translation, [0, 0, GRIPPER_TCP_Z], atol=1e-12)
    np.testing.assert_allclose(flange_to_tcp.rotation, np.eye(3), atol=1e-12)


def test_gripper_pybullet_fingers_move(bullet):
    body = p.loadURDF(
        str(GRIPPER), useFixedBase=True, flags=p.URDF_USE_INERTIA_FROM_FILE, physicsClientId=bullet
    )
    joints = bullet_joints(body, bullet)
    assert [n for n, i in joints.items() if i[2] == p.JOINT_PRISMATIC] == list(GRIPPER_LIMITS)
    for name, (lo, hi, vel, eff) in GRIPPER_LIMITS.items():
        info = joints[name]
        assert (info[8], info[9], info[11], info[10]) == pytest.approx((lo, hi, vel, eff))
    links = bullet_links(body, bullet)
    for name in ("gripper_left_finger", "gripper_right_finger"):
        assert p.getDynamicsInfo(body, links[name], physicsClientId=bullet)[1] == pytest.approx(1.0)
    j1, j2 = joints["gripper_finger_joint1"][0], joints["gripper_finger_joint2"][0]
    p.setGravity(0, 0, -9.81, physicsClientId=bullet)
    for j in (j1, j2):
        p.setJointMotorControl2(
            body,
            j,
            p.POSITION_CONTROL,
            targetPosition=0.03,
            force=40.0,
            maxVelocity=0.2,
            physicsClientId=bullet,
        )
    for _ in range(120):
        p.stepSimulation(physicsClientId=bullet)
    q1 = p.getJointState(body, j1, physicsClientId=bullet)[0]
    q2 = p.getJointState(body, j2, physicsClientId=bullet)[0]
    assert q1 == pytest.approx(0.03, abs=1e-3) and q2 == pytest.approx(0.03, abs=1e-3)
    left = p.getLinkState(
        body, links["gripper_left_finger"], computeForwardKinematics=True, physicsClientId=bullet
    )[4]
    right = p.getLinkState(
        body, links["gripper_right_finger"], computeForwardKinematics=True, physicsClientId=bullet
    )[4]
    assert left[1] == pytest.approx(0.03, abs=1e-3) and right[1] == pytest.approx(-0.03, abs=1e-3)


def test_gripper_force_limited_grasp_lifts_box_without_slip(bullet, tmp_path):
    """Gripper pointing down on a vertical slide (fixed base), closes on a 0.05 m, 0.2 kg box
    with force-limited POSITION_CONTROL, lifts it 0.1 m; the box must not slip > 5 mm."""
    box_half, box_mass = 0.025, 0.2
    h0 = box_half + GRIPPER_TCP_Z  # TCP at the box centre
    rig = (
        '<?xml version="1.0"?><robot name="gripper_rig">'
        '<link name="rig_base"><inertial><mass value="1.0"/>'
        '<inertia ixx="0.01" ixy="0" ixz="0" iyy="0.01" iyz="0" izz="0.01"/></inertial></link>'
        '<joint name="rig_lift" type="prismatic"><parent link="rig_base"/><child link="rig_slider"/>'
        f'<origin xyz="0 0 {h0}" rpy="0 0 0"/><axis xyz="0 0 1"/>'
        '<limit lower="-0.5" upper="0.5" effort="500" velocity="1.0"/></joint>'
        '<link name="rig_slider"><inertial><mass value="0.5"/>'
        '<inertia ixx="0.001" ixy="0" ixz="0" iyy="0.001" iyz="0" izz="0.001"/></inertial></link>'
        '<joint name="rig_mount" type="fixed"><parent link="rig_slider"/><child link="gripper_base"/>'
        f'<origin xyz="0 0 0" rpy="{math.pi} 0 0"/></joint>'
        + robot_body(GRIPPER.read_text())
        + "</robot>"
    )
    cid = bullet
    p.setGravity(0, 0, -9.81, physicsClientId=cid)
    p.setTimeStep(1.0 / 240.0, physicsClientId=cid)
    plane = p.createCollisionShape(p.GEOM_PLANE, physicsClientId=cid)
    p.createMultiBody(0, plane, physicsClientId=cid)
    rig_path = tmp_path / "rig.urdf"  # loadURDF wants a file
    rig_path.write_text(rig)
    body = p.loadURDF(
        str(rig_path), useFixedBase=True, flags=p.URDF_USE_INERTIA_FROM_FILE, physicsClientId=cid
    )
    joints = bullet_joints(body, cid)
    links = bullet_links(body, cid)
    lift = joints["rig_lift"][0]
    fingers = [joints["gripper_finger_joint1"][0], joints["gripper_finger_joint2"][0]]
    tcp = links["gripper_tcp"]

    shape = p.createCollisionShape(p.GEOM_BOX, halfExtents=[box_half] * 3, physicsClientId=cid)
    box = p.createMultiBody(box_mass, shape, basePosition=[0, 0, box_half], physicsClientId=cid)
    p.changeDynamics(box, -1, lateralFriction=0.5, physicsClientId=cid)

    def command(lift_target, finger_target, finger_force):
        p.setJointMotorControl2(
            body,
            lift,
            p.POSITION_CONTROL,
            targetPosition=lift_target,
            force=500.0,
            maxVelocity=0.1,
            physicsClientId=cid,
        )
        for j in fingers:
            p.setJointMotorControl2(
                body,
                j,
                p.POSITION_CONTROL,
                targetPosition=finger_target,
                force=finger_force,
                maxVelocity=0.2,
                physicsClientId=cid,
            )

    def steps(n):
        for _ in range(n):
            p.stepSimulation(physicsClientId=cid)

    def box_in_tcp():
        ls = p.getLinkState(body, tcp, computeForwardKinematics=True, physicsClientId=cid)
        bpos, _ = p.getBasePositionAndOrientation(box, physicsClientId=cid)
        inv_pos, inv_orn = p.invertTransform(ls[4], ls[5])
        return np.array(p.multiplyTransforms(inv_pos, inv_orn, bpos, [0, 0, 0, 1])[0])

    for j in fingers:
        p.resetJointState(body, j, 0.04, physicsClientId=cid)
    command(0.0, 0.04, 40.0)
    steps(60)  # open, box settles on the floor
    z_start = p.getBasePositionAndOrientation(box, physicsClientId=cid)[0][2]
    command(0.0, 0.0, 20.0)  # close, 20 N per finger
    steps(120)
    widths = [p.getJointState(body, j, physicsClientId=cid)[0] for j in fingers]
    assert sum(widths) == pytest.approx(2 * box_half, abs=2e-3), widths
    grip = box_in_tcp()
    command(0.1, 0.0, 20.0)  # lift 0.1 m at 0.1 m/s
    steps(360)
    z_end = p.getBasePositionAndOrientation(box, physicsClientId=cid)[0][2]
    slip = float(np.linalg.norm(box_in_tcp() - grip))
    assert z_end - z_start == pytest.approx(0.1, abs=0.005), (z_start, z_end)
    assert slip < 0.005, slip
