"""RobotModel: FK and Jacobians vs finite differences and vs PyBullet; dynamics consistency."""

import numpy as np
import pinocchio as pin
import pybullet as p
import pytest
from officina.controllers.model import RobotModel

from officina.robots import load_robot

ROBOTS = ["panda", "iiwa", "ur5e", "ur10e", "irb2600"]


@pytest.fixture(scope="module", params=ROBOTS)
def model(request):
    return RobotModel.from_spec(load_robot(request.param))


@pytest.fixture(scope="module")
def bullet(model):
    cid = p.connect(p.DIRECT)
    body = p.loadURDF(model.spec.urdf, useFixedBase=True, flags=p.URDF_USE_INERTIA_FROM_FILE, physicsClientId=cid)
    joints, links, movable = {}, {}, []
    for j in range(p.getNumJoints(body, physicsClientId=cid)):
        info = p.getJointInfo(body, j, physicsClientId=cid)
        joints[info[1].decode()] = j
        links[info[12].decode()] = j
        if info[2] != p.JOINT_FIXED:
            movable.append(j)
    yield cid, body, joints, links, movable
    p.disconnect(physicsClientId=cid)


def _configs(model, k, seed):
    rng = np.random.default_rng(seed)
    lim = model.limits
    return [rng.uniform(lim.lower, lim.upper) for _ in range(k)]


def _set(bullet, model, q):
    cid, body, joints, _, _ = bullet
    for name, v in zip(model.joint_names, q):
        p.resetJointState(body, joints[name], float(v), physicsClientId=cid)


def test_fk_matches_pybullet(model, bullet):
    cid, body, _, links, _ = bullet
    for q in _configs(model, 20, 1):
        _set(bullet, model, q)
        for link in (model.spec.flange_frame, model.spec.tcp_parent):
            st = p.getLinkState(body, links[link], computeForwardKinematics=True, physicsClientId=cid)
            T = model.frame_transform(q, link)
            np.testing.assert_allclose(T[:3, 3], st[4], atol=1e-6)
            R_pb = np.array(p.getMatrixFromQuaternion(st[5])).reshape(3, 3)
            np.testing.assert_allclose(T[:3, :3], R_pb, atol=1e-6)
        _pos, quat = model.fk(q, "flange")
        assert abs(np.linalg.norm(quat) - 1.0) < 1e-12 and quat[3] >= 0


def test_tcp_is_offset_of_its_parent(model):
    q = _configs(model, 1, 2)[0]
    T_parent = model.frame_transform(q, model.spec.tcp_parent)
    T_tcp = model.frame_transform(q, "tcp")
    offset = np.linalg.inv(T_parent) @ T_tcp
    np.testing.assert_allclose(offset[:3, 3], model.spec.tcp_offset_xyz, atol=1e-12)


def test_jacobian_matches_finite_differences(model):
    eps = 1e-7
    for q in _configs(model, 10, 3):
        for frame in ("flange", "tcp"):
            J = model.jacobian(q, frame, "world_aligned")
            T0 = model.frame_transform(q, frame)
            Jfd = np.zeros_like(J)
            for i in range(model.nq):
                dq = np.zeros(model.nq)
                dq[i] = eps
                T1 = model.frame_transform(q + dq, frame)
                Jfd[:3, i] = (T1[:3, 3] - T0[:3, 3]) / eps
                Jfd[3:, i] = pin.log3(T1[:3, :3] @ T0[:3, :3].T) / eps
            np.testing.assert_allclose(J, Jfd, atol=2e-6)
            # kinematics() returns the same pose and Jacobian in one pass
            T, J2 = model.kinematics(q, frame)
            np.testing.assert_allclose(T, T0, atol=1e-12)
            np.testing.assert_allclose(J2, J, atol=1e-12)


def test_jacobian_matches_pybullet(model, bullet):
    cid, body, joints, links, movable = bullet
    li = links[model.spec.flange_frame]
    arm_cols = [movable.index(joints[n]) for n in model.joint_names]
    for q in _configs(model, 10, 4):
        _set(bullet, model, q)
        st = p.getLinkState(body, li, computeForwardKinematics=True, physicsClientId=cid)
        all_q = [p.getJointState(body, j, physicsClientId=cid)[0] for j in movable]
        zeros = [0.0] * len(movable)
        # PyBullet's Jacobian at localPosition 0 (measured: the link-frame origin, as ours)
        Jl, Ja = p.calculateJacobian(body, li, [0.0, 0.0, 0.0], all_q, zeros, zeros, physicsClientId=cid)
        Jpb = np.vstack([np.asarray(Jl)[:, arm_cols], np.asarray(Ja)[:, arm_cols]])
        np.testing.assert_allclose(model.jacobian(q, "flange"), Jpb, atol=1e-6)
        # and at a point 0.1 m along the link's z axis, with the point's offset added to ours
        R = model.frame_transform(q, "flange")[:3, :3]
        Jl, _ = p.calculateJacobian(body, li, [0.0, 0.0, 0.1], all_q, zeros, zeros, physicsClientId=cid)
        J = model.jacobian(q, "flange")
        np.testing.assert_allclose(J[:3] - pin.skew(R @ [0.0, 0.0, 0.1]) @ J[3:], np.asarray(Jl)[:, arm_cols], atol=1e-6)
        del st


def test_dynamics_consistency(model):
    rng = np.random.default_rng(5)
    for q in _configs(model, 10, 6):
        v = rng.normal(size=model.nq)
        a = rng.normal(size=model.nq)
        M = model.mass_matrix(q)
        np.testing.assert_allclose(M, M.T, atol=1e-12)
        assert np.all(np.linalg.eigvalsh(M) > 0)
        # RNEA = M a + h, h = C v + g
        np.testing.assert_allclose(model.rnea(q, v, a), M @ a + model.nonlinear_effects(q, v), atol=1e-9)
        np.testing.assert_allclose(model.nonlinear_effects(q, np.zeros(model.nq)), model.gravity(q), atol=1e-12)
        # inverse mass matrix from ABA-based routine vs inverse of CRBA
        Minv = pin.computeMinverse(model.model, model.data, q)
        Minv = np.triu(Minv) + np.triu(Minv, 1).T
        np.testing.assert_allclose(Minv @ M, np.eye(model.nq), atol=1e-8)
        # Coriolis: v^T (Mdot - 2C) v = 0 is equivalent to energy conservation; check C(q,v)v is
        # quadratic in v
        np.testing.assert_allclose(model.coriolis(q, 2 * v), 4 * model.coriolis(q, v), atol=1e-9)


def test_inertia_and_bias_in_one_pass_match_the_separate_calls(model):
    """One CRBA (world convention) and one RNEA give M, h and a frame's Jacobian: the same as
    mass_matrix, nonlinear_effects and jacobian, to rounding."""
    rng = np.random.default_rng(8)
    for q in _configs(model, 5, 8):
        v = rng.normal(size=model.nq)
        M, h, J = model.inertia_and_bias(q, v, "tcp")
        np.testing.assert_allclose(M, model.mass_matrix(q), rtol=0, atol=1e-12)
        np.testing.assert_allclose(h, model.nonlinear_effects(q, v), rtol=0, atol=1e-12)
        np.testing.assert_allclose(J, model.jacobian(q, "tcp"), rtol=0, atol=1e-12)
        assert model.inertia_and_bias(q, v)[2] is None


def test_gravity_matches_pybullet(model, bullet):
    cid, body, joints, _, movable = bullet
    p.setGravity(0, 0, -9.81, physicsClientId=cid)
    arm_cols = [movable.index(joints[n]) for n in model.joint_names]
    grip = model.spec.gripper
    for q in _configs(model, 5, 7):
        _set(bullet, model, q)
        # fingers at the width the model locks them at (a vacuum gripper has none)
        for fj in grip.finger_joints:
            per = grip.max_width_m / 2 / len(grip.finger_joints)
            p.resetJointState(body, joints[fj], per, physicsClientId=cid)
        all_q = [p.getJointState(body, j, physicsClientId=cid)[0] for j in movable]
        zeros = [0.0] * len(movable)
        tau = np.asarray(p.calculateInverseDynamics(body, all_q, zeros, zeros, physicsClientId=cid))[arm_cols]
        np.testing.assert_allclose(model.gravity(q), tau, atol=1e-6 * max(1.0, np.abs(tau).max()))


def test_jdot_qd_matches_finite_differences(model):
    rng = np.random.default_rng(8)
    q = _configs(model, 1, 9)[0]
    v = rng.normal(size=model.nq) * 0.5
    h = 1e-6
    J0 = model.jacobian(q, "tcp")
    J1 = model.jacobian(q + h * v, "tcp")
    np.testing.assert_allclose(model.jdot_qd(q, v, "tcp"), (J1 - J0) @ v / h, atol=1e-4)


def test_unknown_frame_is_a_clear_error(model):
    with pytest.raises(ValueError, match="unknown frame"):
        model.fk(model.spec.home, "no_such_link")


def test_a_frame_added_to_a_copy_moves_with_its_parent(model):
    """A tool point 5 cm along the tcp's z: its pose is the tcp's times the offset, its Jacobian
    the tcp's shifted to it; the original model does not have it."""
    T_off = np.eye(4)
    T_off[:3, 3] = (0.0, 0.01, 0.05)
    tool = model.with_frame("tool_tip", "tcp", T_off)
    for q in _configs(model, 3, 1):
        np.testing.assert_allclose(tool.frame_transform(q, "tool_tip"), model.frame_transform(q, "tcp") @ T_off,
                                   atol=1e-12)
        J_tcp = model.jacobian(q, "tcp")
        r = model.frame_transform(q, "tcp")[:3, :3] @ T_off[:3, 3]
        J_tip = J_tcp.copy()
        J_tip[:3] += np.cross(J_tcp[3:].T, r).T  # v_tip = v_tcp + w x r
        np.testing.assert_allclose(tool.jacobian(q, "tool_tip"), J_tip, atol=1e-10)
    with pytest.raises(ValueError, match="unknown frame"):
        model.frame_transform(model.spec.home, "tool_tip")
    with pytest.raises(ValueError, match="already exists"):
        tool.with_frame("tool_tip", "tcp", T_off)
