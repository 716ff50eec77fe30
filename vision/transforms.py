"""Rigid transforms: 4x4 homogeneous matrices, quaternions (x, y, z, w), rotation vectors.

Transforms are named after their frames: ``a_T_b`` maps coordinates in frame b to frame a.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "make_transform",
    "invert",
    "quat_to_matrix",
    "matrix_to_quat",
    "rotvec_to_matrix",
    "matrix_to_rotvec",
    "pose_to_transform",
    "transform_to_pose",
    "rotation_angle",
    "transform_error",
    "look_at",
    "as_transform",
]


def as_transform(T, what: str = "transform") -> np.ndarray:
    """A float 4x4 array with a proper rotation block, or a one-line ValueError."""
    T = np.asarray(T, dtype=float)
    if T.shape != (4, 4):
        raise ValueError(f"{what}: expected a 4x4 homogeneous transform, got shape {T.shape}")
    R = T[:3, :3]
    if not np.allclose(R @ R.T, np.eye(3), atol=1e-6) or np.linalg.det(R) < 0:
        raise ValueError(f"{what}: the rotation block is not a proper rotation matrix")
    return T


def make_transform(R: np.ndarray, t) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = np.asarray(t, dtype=float).reshape(3)
    return T


def invert(T: np.ndarray) -> np.ndarray:
    """Inverse of a rigid transform (exact, no general matrix inverse)."""
    R = T[:3, :3]
    out = np.eye(4)
    out[:3, :3] = R.T
    out[:3, 3] = -R.T @ T[:3, 3]
    return out


def quat_to_matrix(q) -> np.ndarray:
    """Rotation matrix of a quaternion (x, y, z, w); it is normalised first."""
    q = np.asarray(q, dtype=float).reshape(-1)
    if q.shape != (4,):
        raise ValueError(f"quaternion: expected 4 values (x, y, z, w), got {q.shape[0]}")
    n = np.linalg.norm(q)
    if n < 1e-12:
        raise ValueError("quaternion: zero norm; expected a unit quaternion (x, y, z, w)")
    x, y, z, w = q / n
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def matrix_to_quat(R: np.ndarray) -> np.ndarray:
    """Quaternion (x, y, z, w) with w >= 0 of a rotation matrix."""
    R = np.asarray(R, dtype=float)
    tr = np.trace(R)
    if tr > 0:
        s = 2.0 * np.sqrt(tr + 1.0)
        q = [(R[2, 1] - R[1, 2]) / s, (R[0, 2] - R[2, 0]) / s, (R[1, 0] - R[0, 1]) / s, 0.25 * s]
    elif R[0, 0] > R[1, 1] and R[0, 0] > R[2, 2]:
        s = 2.0 * np.sqrt(1.0 + R[0, 0] - R[1, 1] - R[2, 2])
        q = [0.25 * s, (R[0, 1] + R[1, 0]) / s, (R[0, 2] + R[2, 0]) / s, (R[2, 1] - R[1, 2]) / s]
    elif R[1, 1] > R[2, 2]:
        s = 2.0 * np.sqrt(1.0 + R[1, 1] - R[0, 0] - R[2, 2])
        q = [(R[0, 1] + R[1, 0]) / s, 0.25 * s, (R[1, 2] + R[2, 1]) / s, (R[0, 2] - R[2, 0]) / s]
    else:
        s = 2.0 * np.sqrt(1.0 + R[2, 2] - R[0, 0] - R[1, 1])
        q = [(R[0, 2] + R[2, 0]) / s, (R[1, 2] + R[2, 1]) / s, 0.25 * s, (R[1, 0] - R[0, 1]) / s]
    q = np.asarray(q)
    q /= np.linalg.norm(q)
    return -q if q[3] < 0 else q


def rotvec_to_matrix(r) -> np.ndarray:
    """Rodrigues: rotation vector (axis * angle, rad) -> rotation matrix."""
    r = np.asarray(r, dtype=float).reshape(3)
    th = np.linalg.norm(r)
    K = np.array([[0, -r[2], r[1]], [r[2], 0, -r[0]], [-r[1], r[0], 0]])
    if th < 1e-12:
        return np.eye(3) + K
    K /= th
    return np.eye(3) + np.sin(th) * K + (1 - np.cos(th)) * K @ K


def matrix_to_rotvec(R: np.ndarray) -> np.ndarray:
    """Rotation matrix -> rotation vector (axis * angle, angle in [0, pi])."""
    q = matrix_to_quat(R)
    s = np.linalg.norm(q[:3])
    if s < 1e-12:
        return np.zeros(3)
    angle = 2.0 * np.arctan2(s, q[3])
    return q[:3] / s * angle


def pose_to_transform(position, quaternion_xyzw) -> np.ndarray:
    return make_transform(quat_to_matrix(quaternion_xyzw), position)


def transform_to_pose(T: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(position [m], quaternion (x, y, z, w)) of a 4x4 transform."""
    return np.asarray(T[:3, 3], dtype=float).copy(), matrix_to_quat(T[:3, :3])


def rotation_angle(R: np.ndarray) -> float:
    """Angle (rad) of a rotation matrix, robust near 0 and pi."""
    return float(np.linalg.norm(matrix_to_rotvec(R)))


def transform_error(T_est: np.ndarray, T_true: np.ndarray) -> tuple[float, float]:
    """(translation error [m], rotation error [rad]) between two transforms of the same frames."""
    dt = float(np.linalg.norm(T_est[:3, 3] - T_true[:3, 3]))
    return dt, rotation_angle(T_est[:3, :3].T @ T_true[:3, :3])


def look_at(eye, target, up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """4x4 ``world_T_camera`` (optical frame: z forward, x right, y down) looking from eye at target."""
    eye = np.asarray(eye, dtype=float)
    z = np.asarray(target, dtype=float) - eye
    if np.linalg.norm(z) < 1e-12:
        raise ValueError("look_at: eye and target coincide; expected two distinct points")
    z /= np.linalg.norm(z)
    x = np.cross(z, np.asarray(up, dtype=float))
    if np.linalg.norm(x) < 1e-9:
        raise ValueError("look_at: viewing direction is parallel to 'up'; pass another up vector")
    x /= np.linalg.norm(x)
    return make_transform(np.column_stack([x, np.cross(z, x), z]), eye)
