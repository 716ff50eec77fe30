"""Robot models for control, built with Pinocchio from the same URDF the simulator loads.

The simulator is the plant; the controller has a model, as on a real arm. Gripper finger
joints are locked (half open) in the control model, so arrays have one entry per arm joint,
in the robot's own joint-name order (``RobotSpec.joint_names``).

Frames: the model's world is the robot ``base`` frame. ``"flange"`` and ``"tcp"`` are always
available as frame names, next to every link of the URDF.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pinocchio as pin

from officina.interfaces import JointLimits, RobotSpec

__all__ = ["RobotModel", "matrix_to_quat_xyzw", "pose_to_T", "quat_xyzw_to_matrix", "rpy_to_matrix"]


def rpy_to_matrix(rpy) -> np.ndarray:
    return pin.rpy.rpyToMatrix(*[float(v) for v in rpy])


def quat_xyzw_to_matrix(q) -> np.ndarray:
    x, y, z, w = [float(v) for v in q]
    n = np.sqrt(x * x + y * y + z * z + w * w)
    if not np.isfinite(n) or n < 1e-9:
        raise ValueError("quaternion: expected 4 finite values (x, y, z, w) with a non-zero norm")
    return pin.Quaternion(w / n, x / n, y / n, z / n).toRotationMatrix()


def matrix_to_quat_xyzw(R: np.ndarray) -> np.ndarray:
    q = pin.Quaternion(np.asarray(R, dtype=float))
    q.normalize()
    out = np.array([q.x, q.y, q.z, q.w])
    return out if out[3] >= 0 else -out


def pose_to_T(position, quat_xyzw) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = quat_xyzw_to_matrix(quat_xyzw)
    T[:3, 3] = np.asarray(position, dtype=float).reshape(3)
    return T


_REFERENCES = {
    "world_aligned": pin.ReferenceFrame.LOCAL_WORLD_ALIGNED,
    "local": pin.ReferenceFrame.LOCAL,
    "world": pin.ReferenceFrame.WORLD,
}


@dataclass
class RobotModel:
    """A Pinocchio model of the arm (fingers locked). Not thread-safe: one per thread."""

    spec: RobotSpec
    model: pin.Model
    data: pin.Data
    _v_index: np.ndarray  # model v-index of each arm joint, in spec.joint_names order
    _q_index: np.ndarray

    @classmethod
    def from_spec(cls, spec: RobotSpec, finger_lock_width: float | None = None) -> RobotModel:
        full = pin.buildModelFromUrdf(spec.urdf)
        q_lock = pin.neutral(full)
        lock_ids = []
        arm = set(spec.joint_names)
        for jid in range(1, full.njoints):
            name = full.names[jid]
            if name in arm:
                continue
            lock_ids.append(jid)
            if spec.gripper and name in spec.gripper.finger_joints:
                width = spec.gripper.max_width_m / 2 if finger_lock_width is None else finger_lock_width
                q_lock[full.idx_qs[jid]] = width / max(1, len(spec.gripper.finger_joints))
        model = pin.buildReducedModel(full, lock_ids, q_lock) if lock_ids else full
        # Named frames "flange" and "tcp".
        fl = model.getFrameId(spec.flange_frame)
        if fl >= model.nframes:
            raise ValueError(f"robot {spec.name!r}: flange frame {spec.flange_frame!r} not in the model")
        fr = model.frames[fl]
        model.addFrame(pin.Frame("flange", fr.parentJoint, fl, fr.placement, pin.FrameType.OP_FRAME))
        tp = model.getFrameId(spec.tcp_parent)
        if tp >= model.nframes:
            raise ValueError(f"robot {spec.name!r}: tcp parent {spec.tcp_parent!r} not in the model")
        tpf = model.frames[tp]
        offset = pin.SE3(rpy_to_matrix(spec.tcp_offset_rpy), np.asarray(spec.tcp_offset_xyz, dtype=float))
        model.addFrame(pin.Frame("tcp", tpf.parentJoint, tp, tpf.placement * offset, pin.FrameType.OP_FRAME))
        v_index, q_index = [], []
        for jn in spec.joint_names:
            jid = model.getJointId(jn)
            if model.nqs[jid] != 1 or model.nvs[jid] != 1:
                raise ValueError(f"robot {spec.name!r}: joint {jn!r} is not a 1-DoF joint")
            v_index.append(model.idx_vs[jid])
            q_index.append(model.idx_qs[jid])
        if model.nq != len(spec.joint_names):
            raise ValueError(f"robot {spec.name!r}: model has {model.nq} coordinates, spec {spec.dof} joints")
        return cls(spec, model, model.createData(), np.array(v_index), np.array(q_index))

    def with_frame(self, name: str, parent: str, parent_T_frame: np.ndarray) -> "RobotModel":
        """A copy of this model with one more frame, ``name``, fixed to the frame ``parent`` at
        ``parent_T_frame`` (4x4): a tool's point such as a held part's tip, as a frame the
        kinematics and the Cartesian laws can use. This model is left as it is."""
        T = np.asarray(parent_T_frame, dtype=float)
        if T.shape != (4, 4) or not np.all(np.isfinite(T)):
            raise ValueError("parent_T_frame: expected a finite 4x4 transform")
        if self.model.existFrame(name):
            raise ValueError(f"frame {name!r} already exists in the model of {self.spec.name}")
        pf = self.model.frames[self.frame_id(parent)]
        model = pin.Model(self.model)
        model.addFrame(pin.Frame(name, pf.parentJoint, self.frame_id(parent), pf.placement * pin.SE3(T[:3, :3], T[:3, 3]),
                                 pin.FrameType.OP_FRAME))
        return RobotModel(self.spec, model, model.createData(), self._v_index, self._q_index)

    def __post_init__(self) -> None:
        self._strictly_lower = np.tri(self.model.nv, self.model.nv, -1, dtype=bool)
        self._identity_order = bool(np.array_equal(self._v_index, np.arange(self.model.nv))
                                    and np.array_equal(self._q_index, np.arange(self.model.nq)))
        self._model_shape = (self.model.nv,)
        self._frame_ids: dict[str, int] = {}
        # whether the world-convention CRBA fills the lower triangle too (Pinocchio's versions differ)
        M = pin.crba(self.model, self.data, pin.neutral(self.model), pin.Convention.WORLD)
        self._crba_world_whole = bool(np.array_equal(M, M.T)) and self.model.nv > 1 and bool(np.any(np.tril(M, -1)))

    # --- basic facts ---------------------------------------------------------------------------
    @property
    def nq(self) -> int:
        return self.spec.dof

    @property
    def joint_names(self) -> tuple[str, ...]:
        return self.spec.joint_names

    @property
    def limits(self) -> JointLimits:
        return self.spec.limits

    def frame_id(self, frame: str) -> int:
        fid = self._frame_ids.get(frame)
        if fid is not None:
            return fid
        fid = self.model.getFrameId(frame)
        if fid >= self.model.nframes:
            raise ValueError(f"unknown frame {frame!r}; expected 'flange', 'tcp' or a link of {self.spec.name}")
        self._frame_ids[frame] = fid  # frames are only ever added: an id stays valid
        return fid

    def _to_model(self, q: np.ndarray) -> np.ndarray:
        """Arm-joint order -> model coordinate order (identical for the built-in robots: then a
        float array of the right length is used as it is; nothing writes to it)."""
        if self._identity_order and type(q) is np.ndarray and q.shape == self._model_shape and q.dtype == np.float64:
            return q
        out = np.empty(self.model.nq)
        out[self._q_index] = q
        return out

    def _to_model_v(self, v: np.ndarray) -> np.ndarray:
        """Arm-joint order -> model velocity order (as `_to_model`)."""
        if self._identity_order and type(v) is np.ndarray and v.shape == self._model_shape and v.dtype == np.float64:
            return v
        out = np.empty(self.model.nv)
        out[self._v_index] = v
        return out

    def _from_model_v(self, v: np.ndarray) -> np.ndarray:
        return np.array(v, dtype=float) if self._identity_order else np.asarray(v)[self._v_index]

    # --- kinematics ----------------------------------------------------------------------------
    def frame_transform(self, q: np.ndarray, frame: str = "tcp") -> np.ndarray:
        """4x4 ``base_T_frame`` at joint positions q."""
        fid = self.frame_id(frame)
        pin.framesForwardKinematics(self.model, self.data, self._to_model(np.asarray(q, dtype=float)))
        return self.data.oMf[fid].homogeneous.copy()

    def frame_se3(self, q: np.ndarray, fid: int) -> pin.SE3:
        pin.framesForwardKinematics(self.model, self.data, self._to_model(q))
        return self.data.oMf[fid]

    def fk(self, q: np.ndarray, frame: str = "tcp") -> tuple[np.ndarray, np.ndarray]:
        """(position [m], quaternion (x, y, z, w)) of ``frame`` in the base frame."""
        T = self.frame_transform(q, frame)
        return T[:3, 3].copy(), matrix_to_quat_xyzw(T[:3, :3])

    def jacobian(self, q: np.ndarray, frame: str = "tcp", reference: str = "world_aligned") -> np.ndarray:
        """6xN frame Jacobian (linear rows first). reference: 'world_aligned' (origin at the frame,
        axes of the base), 'local' (frame axes) or 'world'."""
        refs = _REFERENCES
        if reference not in refs:
            raise ValueError(f"jacobian reference {reference!r}: expected one of {', '.join(refs)}")
        fid = self.frame_id(frame)
        J = pin.computeFrameJacobian(self.model, self.data, self._to_model(np.asarray(q, float)), fid, refs[reference])
        return J[:, self._v_index]

    def frame_velocity(self, q: np.ndarray, v: np.ndarray, frame: str = "tcp") -> np.ndarray:
        """6-D spatial velocity (linear m/s, angular rad/s) of ``frame``, base-aligned axes."""
        return self.jacobian(q, frame, "world_aligned") @ np.asarray(v, dtype=float)

    def jdot_qd(self, q: np.ndarray, v: np.ndarray, frame: str = "tcp") -> np.ndarray:
        """Classical acceleration bias ``dJ/dt(q, v) v`` of ``frame`` (base-aligned axes, linear
        rows first): the frame acceleration when the joint accelerations are zero."""
        fid = self.frame_id(frame)
        vm = np.zeros(self.model.nv)
        vm[self._v_index] = v
        pin.forwardKinematics(self.model, self.data, self._to_model(np.asarray(q, float)), vm, np.zeros(self.model.nv))
        a = pin.getFrameClassicalAcceleration(self.model, self.data, fid, pin.ReferenceFrame.LOCAL_WORLD_ALIGNED)
        return np.concatenate([a.linear, a.angular])

    def kinematics(self, q: np.ndarray, frame: str = "tcp") -> tuple[np.ndarray, np.ndarray]:
        """(4x4 ``base_T_frame``, 6xN base-aligned Jacobian) in one forward pass."""
        fid = self.frame_id(frame)
        qm = self._to_model(np.asarray(q, dtype=float))
        pin.computeJointJacobians(self.model, self.data, qm)
        T = pin.updateFramePlacement(self.model, self.data, fid).homogeneous.copy()
        J = pin.getFrameJacobian(self.model, self.data, fid, pin.ReferenceFrame.LOCAL_WORLD_ALIGNED)
        return T, J[:, self._v_index]

    # --- dynamics ------------------------------------------------------------------------------
    def mass_matrix(self, q: np.ndarray) -> np.ndarray:
        """The joint-space inertia matrix M(q) (symmetric; CRBA fills its upper triangle)."""
        M = pin.crba(self.model, self.data, self._to_model(np.asarray(q, float)))
        M = np.where(self._strictly_lower, M.T, M)
        return M if self._identity_order else M[np.ix_(self._v_index, self._v_index)]

    def inertia_and_bias(self, q: np.ndarray, v: np.ndarray,
                         frame: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """``(M(q), h(q, v), J)``: the inertia matrix, the Coriolis, centrifugal and gravity
        torques, and with ``frame`` that frame's 6xN base-aligned Jacobian (else None), from one
        CRBA and one RNEA. The CRBA runs in Pinocchio's world convention, which fills M whole and
        leaves the joint Jacobians behind, so the frame's Jacobian costs no other pass; M equals
        `mass_matrix` to rounding (the two conventions sum the same terms in another order)."""
        qm = self._to_model(np.asarray(q, float))
        M = pin.crba(self.model, self.data, qm, pin.Convention.WORLD)
        if not self._crba_world_whole:
            M = np.where(self._strictly_lower, M.T, M)
        J = None
        if frame is not None:
            J = pin.getFrameJacobian(self.model, self.data, self.frame_id(frame), pin.ReferenceFrame.LOCAL_WORLD_ALIGNED)
            J = J if self._identity_order else J[:, self._v_index]
        h = pin.nonLinearEffects(self.model, self.data, qm, self._to_model_v(v))
        if self._identity_order:
            return M, h, J
        return M[np.ix_(self._v_index, self._v_index)], self._from_model_v(h), J

    def gravity(self, q: np.ndarray) -> np.ndarray:
        g = pin.computeGeneralizedGravity(self.model, self.data, self._to_model(np.asarray(q, float)))
        return self._from_model_v(g)

    def nonlinear_effects(self, q: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Coriolis, centrifugal and gravity torques h(q, v)."""
        vm = self._to_model_v(v)
        h = pin.nonLinearEffects(self.model, self.data, self._to_model(np.asarray(q, float)), vm)
        return self._from_model_v(h)

    def coriolis(self, q: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Coriolis and centrifugal torques C(q, v) v."""
        return self.nonlinear_effects(q, v) - self.gravity(q)

    @property
    def joint_damping(self) -> np.ndarray:
        """Viscous joint friction (N·m·s/rad) from the URDF ``<dynamics damping>``, per arm joint."""
        return np.asarray(self.model.damping)[self._v_index].copy()

    def friction(self, v: np.ndarray) -> np.ndarray:
        """Modelled joint friction torques (viscous, from the URDF) at joint velocities v."""
        return self.joint_damping * np.asarray(v, dtype=float)

    def rnea(self, q: np.ndarray, v: np.ndarray, a: np.ndarray) -> np.ndarray:
        vm = np.empty(self.model.nv)
        am = np.empty(self.model.nv)
        vm[self._v_index] = v
        am[self._v_index] = a
        tau = pin.rnea(self.model, self.data, self._to_model(np.asarray(q, float)), vm, am)
        return self._from_model_v(tau)

    def within_limits(self, q: np.ndarray, tol: float = 0.0) -> bool:
        lim = self.spec.limits
        return bool(np.all(q >= lim.lower - tol) and np.all(q <= lim.upper + tol))
