"""The project's own robot models: sim/models/ur5e.urdf and sim/models/parallel_gripper.urdf.

Checks that both load in PyBullet (DIRECT, own client) and in Pinocchio, that joint names
and limits are what the files declare, that the UR5e's kinematics equal Universal Robots'
published DH table, that the inertial data is physical, and that the gripper, force-limited,
holds and lifts a 0.2 kg box without slipping.
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

GRIPPER_LIMITS = {  # name: (lower, upper, velocity m/s, effort N)
    "gripper_finger_joint1": (0.0, 0.04, 0.2, 40.0),
    "gripper_finger_joint2": (0.0, 0.04, 0.2, 40.0),
}
GRIPPER_TCP_Z = 0.12


# ----------------------------------------------------------------------------- helpers


def dh_fk(q) -> np.ndarray:
    """Standard DH product T_0^6 (UR's convention: Rz(theta) Tz(d) Tx(a) Rx(alpha))."""
    T = np.eye(4)
    for th, d, a, al in zip(q, UR5E_DH_D, UR5E_DH_A, UR5E_DH_ALPHA):
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


# ----------------------------------------------------------------------------- both models


@pytest.mark.parametrize("path", [UR5E, GRIPPER], ids=lambda x: x.name)
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
