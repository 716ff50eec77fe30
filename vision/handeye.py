"""Hand-eye calibration, eye-in-hand and eye-to-hand, from robot poses and board observations.

Both set-ups are the robot-world/hand-eye problem ``A_i X = Y C_i`` with ``C_i = board_T_camera_i``:

- eye-in-hand (camera on the flange): ``A_i = base_T_flange_i``, ``X = flange_T_camera``,
  ``Y = base_T_board`` (the board is fixed in the cell);
- eye-to-hand (camera fixed, board on the flange): ``A_i = flange_T_base_i``, ``X = base_T_camera``,
  ``Y = flange_T_board``.

The solution is closed-form (Park & Martin's rotation from the relative motions, then linear
least squares for the translations), then refined by Levenberg-Marquardt on the board corners'
reprojection error when the observations are given (else on the pose residuals).
OpenCV 5.0.0's Python wheel lacks ``cv2.calibrateHandEye`` (opencv/opencv#29565); when a build has
it, `opencv_hand_eye` runs it on the same data for comparison.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from officina.interfaces import CameraIntrinsics, read_yaml

from .transforms import invert, make_transform, matrix_to_rotvec, rotvec_to_matrix, transform_to_pose

__all__ = [
    "HandEyeResult", "HandEyeSession", "MODES", "calibrate_hand_eye", "solve_ax_yb", "opencv_hand_eye",
    "load_base_T_camera", "read_pose_file", "hand_eye_from_files", "write_hand_eye",
]

MODES = ("eye-in-hand", "eye-to-hand")


@dataclass(frozen=True)
class HandEyeResult:
    """``X`` is flange_T_camera (eye-in-hand) or base_T_camera (eye-to-hand); ``Y`` is
    base_T_board (eye-in-hand) or flange_T_board (eye-to-hand). Residuals are RMS over poses."""

    mode: str
    X: np.ndarray
    Y: np.ndarray
    residual_translation_m: float
    residual_rotation_rad: float
    reprojection_error_px: float | None
    n_poses: int

    @property
    def names(self) -> tuple[str, str]:
        return ("flange_T_camera", "base_T_board") if self.mode == "eye-in-hand" else ("base_T_camera", "flange_T_board")

    def to_json(self) -> dict:
        def pose(T):
            p, q = transform_to_pose(T)
            return {"position": [float(v) for v in p], "quaternion_xyzw": [float(v) for v in q],
                    "matrix": [[float(v) for v in row] for row in T]}

        nx, ny = self.names
        return {
            "mode": self.mode,
            nx: pose(self.X),
            ny: pose(self.Y),
            "residual_translation_m": self.residual_translation_m,
            "residual_rotation_deg": float(np.rad2deg(self.residual_rotation_rad)),
            "reprojection_error_px": self.reprojection_error_px,
            "n_poses": self.n_poses,
        }


def _park_rotation(As: Sequence[np.ndarray], Bs: Sequence[np.ndarray]) -> np.ndarray:
    M = np.zeros((3, 3))
    for A, B in zip(As, Bs):
        M += np.outer(matrix_to_rotvec(B[:3, :3]), matrix_to_rotvec(A[:3, :3]))
    # R_X = (M^T M)^(-1/2) M^T, computed as the polar factor via SVD (R_X maps beta to alpha)
    U, _, Vt = np.linalg.svd(M.T)
    D = np.diag([1.0, 1.0, np.sign(np.linalg.det(U @ Vt))])
    return U @ D @ Vt


def solve_ax_yb(As: Sequence[np.ndarray], Cs: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Closed-form (X, Y) with A_i X = Y C_i, from relative motions A_0^-1 A_i X = X C_0^-1 C_i."""
    n = len(As)
    if n < 3 or len(Cs) != n:
        raise ValueError(f"hand-eye needs at least 3 pose pairs (robot pose + board pose), got {n} and {len(Cs)}")
    rel_A, rel_B = [], []
    for i in range(n):
        for j in range(i + 1, n):
            rel_A.append(invert(As[i]) @ As[j])
            rel_B.append(invert(Cs[i]) @ Cs[j])
    rotvecs = np.array([matrix_to_rotvec(A[:3, :3]) for A in rel_A])
    angles = np.linalg.norm(rotvecs, axis=1)
    turned = angles > np.deg2rad(2.0)
    if np.count_nonzero(turned) < 2:
        raise ValueError("hand-eye: the robot poses barely rotate; expected rotations about at least two different axes")
    # All about one axis (e.g. only the last joint turned): the rotation about that axis and the
    # offset along it are not observable, and the solution would fit the data and be wrong. Two
    # axes more than 4 deg apart put one of them more than 2 deg from the first axis.
    axes = rotvecs[turned] / angles[turned, None]
    if np.max(np.linalg.norm(np.cross(axes[0], axes), axis=1)) < np.sin(np.deg2rad(2.0)):
        raise ValueError("hand-eye: the robot poses all rotate about one axis; expected rotations about at least "
                         "two different axes (tilt the tool, not only turn it)")
    R = _park_rotation(rel_A, rel_B)
    # translation: (R_A - I) t_X = R_X t_B - t_A for every relative motion
    M = np.vstack([A[:3, :3] - np.eye(3) for A in rel_A])
    b = np.concatenate([R @ B[:3, 3] - A[:3, 3] for A, B in zip(rel_A, rel_B)])
    t = np.linalg.lstsq(M, b, rcond=None)[0]
    X = make_transform(R, t)
    # Y from every pose: Y = A_i X C_i^-1, averaged (rotation by SVD projection)
    Ys = [A @ X @ invert(C) for A, C in zip(As, Cs)]
    U, _, Vt = np.linalg.svd(sum(Yi[:3, :3] for Yi in Ys))
    RY = U @ np.diag([1.0, 1.0, np.sign(np.linalg.det(U @ Vt))]) @ Vt
    Y = make_transform(RY, np.mean([Yi[:3, 3] for Yi in Ys], axis=0))
    return X, Y


def _perturb(T: np.ndarray, d: np.ndarray) -> np.ndarray:
    return make_transform(rotvec_to_matrix(d[:3]) @ T[:3, :3], T[:3, 3] + d[3:])


def _lm(residual, X: np.ndarray, Y: np.ndarray, iters: int = 50) -> tuple[np.ndarray, np.ndarray]:
    lam = 1e-3
    r = residual(X, Y)
    cost = float(r @ r)
    for _ in range(iters):
        J = np.empty((r.size, 12))
        eps = 1e-7
        for k in range(12):
            d = np.zeros(12)
            d[k] = eps
            J[:, k] = (residual(_perturb(X, d[:6]), _perturb(Y, d[6:])) - r) / eps
        g = J.T @ r
        H = J.T @ J
        improved = False
        while lam < 1e10:
            step = -np.linalg.solve(H + lam * np.diag(np.diag(H) + 1e-12), g)
            Xn, Yn = _perturb(X, step[:6]), _perturb(Y, step[6:])
            rn = residual(Xn, Yn)
            cn = float(rn @ rn)
            if cn < cost:
                X, Y, r, lam = Xn, Yn, rn, max(lam / 10, 1e-9)
                improved = cost - cn > 1e-14 * max(cost, 1e-30)
                cost = cn
                break
            lam *= 10
        if not improved:
            break
    return X, Y


def calibrate_hand_eye(
    robot_poses: Sequence[np.ndarray],
    camera_T_board: Sequence[np.ndarray],
    mode: str = "eye-in-hand",
    *,
    observations: Sequence[tuple[np.ndarray, np.ndarray]] | None = None,
    intrinsics: CameraIntrinsics | None = None,
) -> HandEyeResult:
    """Hand-eye calibration.

    ``robot_poses`` are ``base_T_flange`` for each station (from the robot's forward kinematics),
    ``camera_T_board`` the board pose seen by the camera at the same station. ``observations``
    (object points Nx3 in the board frame, image points Nx2 px) with ``intrinsics`` enable the
    reprojection refinement.
    """
    if mode not in MODES:
        raise ValueError(f"hand-eye mode {mode!r}; expected one of {', '.join(MODES)}")
    if len(robot_poses) != len(camera_T_board):
        raise ValueError(f"hand-eye: {len(robot_poses)} robot poses but {len(camera_T_board)} board poses")
    base_T_flange = [np.asarray(T, dtype=float) for T in robot_poses]
    As = base_T_flange if mode == "eye-in-hand" else [invert(T) for T in base_T_flange]
    Cs = [invert(np.asarray(T, dtype=float)) for T in camera_T_board]
    X, Y = solve_ax_yb(As, Cs)

    if observations is not None and intrinsics is not None:
        import cv2

        if len(observations) != len(As):
            raise ValueError(f"hand-eye: {len(observations)} observations for {len(As)} poses")
        K = intrinsics.K
        dist = np.asarray(intrinsics.distortion, dtype=float)
        obs = [(np.asarray(o, float), np.asarray(i, float).reshape(-1, 2)) for o, i in observations]
        Ainv = [invert(A) for A in As]

        def residual(X, Y):
            Xi = invert(X)
            out = []
            for Ai, (obj, img) in zip(Ainv, obs):
                cTb = Xi @ Ai @ Y  # camera_T_board predicted by the chain
                rvec = matrix_to_rotvec(cTb[:3, :3])
                proj, _ = cv2.projectPoints(obj, rvec, cTb[:3, 3], K, dist)
                out.append((proj.reshape(-1, 2) - img).ravel())
            return np.concatenate(out)

        X, Y = _lm(residual, X, Y)
        r = residual(X, Y)
        reproj = float(np.sqrt(np.mean(r.reshape(-1, 2) ** 2 @ np.ones(2))))
    else:
        scale = 0.1  # metres per radian: weighs rotation residuals against translation ones

        def residual(X, Y):
            out = []
            for A, C in zip(As, Cs):
                E = invert(Y @ C) @ (A @ X)
                out.append(np.concatenate([matrix_to_rotvec(E[:3, :3]) * scale, E[:3, 3]]))
            return np.concatenate(out)

        X, Y = _lm(residual, X, Y)
        reproj = None

    dts, drs = [], []
    for A, C in zip(As, Cs):
        E = invert(Y @ C) @ (A @ X)
        dts.append(np.linalg.norm(E[:3, 3]))
        drs.append(np.linalg.norm(matrix_to_rotvec(E[:3, :3])))
    return HandEyeResult(
        mode, X, Y, float(np.sqrt(np.mean(np.square(dts)))), float(np.sqrt(np.mean(np.square(drs)))), reproj, len(As)
    )


def opencv_hand_eye(robot_poses: Sequence[np.ndarray], camera_T_board: Sequence[np.ndarray], mode: str = "eye-in-hand"):
    """``X`` from OpenCV's calibrateHandEye (Park), or None when this OpenCV build lacks it."""
    import cv2

    if not hasattr(cv2, "calibrateHandEye"):
        return None
    Ts = [np.asarray(T, float) for T in robot_poses]
    if mode == "eye-to-hand":
        Ts = [invert(T) for T in Ts]
    R, t = cv2.calibrateHandEye(
        [T[:3, :3] for T in Ts], [T[:3, 3] for T in Ts],
        [np.asarray(T)[:3, :3] for T in camera_T_board], [np.asarray(T)[:3, 3] for T in camera_T_board],
        method=cv2.CALIB_HAND_EYE_PARK,
    )
    return make_transform(np.asarray(R), np.asarray(t).reshape(3))


def load_base_T_camera(path) -> np.ndarray:
    """A fixed camera's pose in the robot base frame from a YAML file: the result of
    ``officina vision handeye --mode eye-to-hand`` (its ``base_T_camera``), or a plain pose
    (``position`` + ``quaternion_xyzw``, or a 4x4 ``matrix``). Raises ValueError naming the problem."""
    from officina.vision.transforms import as_transform, pose_to_transform

    doc = read_yaml(path, "camera pose file", mapping=True)
    if doc.get("mode") == "eye-in-hand" or "flange_T_camera" in doc:
        raise ValueError(f"camera pose file {path}: an eye-in-hand result (camera on the flange); a fixed "
                         "camera's pose needs `officina vision handeye --mode eye-to-hand`")
    pose = doc.get("base_T_camera", doc)
    try:
        if "matrix" in pose:
            return as_transform(pose["matrix"], f"{path} matrix")
        return pose_to_transform(pose["position"], pose["quaternion_xyzw"])
    except (KeyError, TypeError) as exc:
        raise ValueError(f"camera pose file {path}: expected base_T_camera, or position + quaternion_xyzw, or "
                         f"matrix (missing {exc})") from None


# --- files: the poses of a calibration session in, the result out ---------------------------------
def read_pose_file(path) -> list[tuple[str, np.ndarray]]:
    """``(image name, base_T_flange)`` for each entry of a hand-eye poses YAML file::

        poses:
          - {image: img_000.png, position: [0.45, 0.02, 0.51], quaternion_xyzw: [1, 0, 0, 0]}
          - {image: img_001.png, matrix: [[...], [...], [...], [0, 0, 0, 1]]}

    (metres; quaternion x, y, z, w; a 4x4 ``matrix`` may replace position + quaternion_xyzw;
    a bare list without the ``poses`` key is accepted). Raises ValueError naming the entry at fault.
    """
    from officina.vision.transforms import as_transform, pose_to_transform

    doc = read_yaml(path, "poses file")
    entries = doc.get("poses") if isinstance(doc, dict) else doc
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"poses file {path}: expected a list under 'poses' of {{image, position, quaternion_xyzw}}")
    out = []
    for k, e in enumerate(entries):
        if not isinstance(e, dict) or "image" not in e:
            raise ValueError(f"poses file {path}: entry {k} needs 'image' and a pose (position + quaternion_xyzw, "
                             "or matrix)")
        try:
            if "matrix" in e:
                T = as_transform(e["matrix"], f"poses file {path}: entry {k} matrix")
            elif "position" in e and "quaternion_xyzw" in e:
                T = pose_to_transform(_floats(e["position"], 3), _floats(e["quaternion_xyzw"], 4))
            else:
                raise ValueError(f"poses file {path}: entry {k} needs position + quaternion_xyzw, or matrix")
        except (TypeError, ValueError) as exc:
            msg = str(exc)
            raise ValueError(msg if msg.startswith("poses file") else f"poses file {path}: entry {k}: {msg}") from None
        out.append((str(e["image"]), T))
    return out


def _floats(values, n: int) -> np.ndarray:
    a = np.asarray(values, dtype=float).reshape(-1)
    if a.shape != (n,) or not np.isfinite(a).all():
        raise ValueError(f"expected {n} finite numbers, got {values!r}")
    return a


@dataclass(frozen=True)
class HandEyeSession:
    """A calibration from files: ``result`` is None when the board was found in fewer than 3
    images (``found`` of ``total``); ``skipped`` names the images where it was not found."""

    result: HandEyeResult | None
    board: str
    found: int
    total: int
    skipped: tuple[str, ...]

    def to_json(self) -> dict:
        """The result file's content (`write_hand_eye`); `load_base_T_camera` reads it back."""
        if self.result is None:
            raise ValueError(f"hand-eye: the board {self.board} was found in {self.found} of {self.total} images")
        return {**self.result.to_json(), "board": self.board, "skipped_images": list(self.skipped)}


def hand_eye_from_files(poses_file, images_dir, board, intrinsics: CameraIntrinsics, mode: str) -> HandEyeSession:
    """Hand-eye calibration from a poses file (`read_pose_file`) and the images it names in
    ``images_dir``: the board (a `BoardSpec`) is detected in each image and its pose estimated
    with ``intrinsics``; images without the board are skipped. Raises ValueError for a bad mode,
    pose file or image, or an image whose size differs from the intrinsics'."""
    from pathlib import Path

    from .boards import board_pose, detect_board
    from .calibration import read_image

    if mode not in MODES:
        raise ValueError(f"hand-eye mode {mode!r}; expected one of {', '.join(MODES)}")
    entries = read_pose_file(poses_file)
    robot, seen, obs, skipped = [], [], [], []
    for name, base_T_flange in entries:
        img = read_image(Path(images_dir) / name)
        if (img.shape[1], img.shape[0]) != (intrinsics.width, intrinsics.height):
            raise ValueError(f"{name} is {img.shape[1]}x{img.shape[0]}; the camera info is for "
                             f"{intrinsics.width}x{intrinsics.height}")
        o = detect_board(img, board)
        if o is None:
            skipped.append(name)
            continue
        camera_T_board, _ = board_pose(o, intrinsics)
        robot.append(base_T_flange)
        seen.append(camera_T_board)
        obs.append((o.object_points, o.image_points))
    result = None
    if len(robot) >= 3:
        result = calibrate_hand_eye(robot, seen, mode, observations=obs, intrinsics=intrinsics)
    return HandEyeSession(result, str(board), len(robot), len(entries), tuple(skipped))


def write_hand_eye(path, session: HandEyeSession) -> dict:
    """Write the session's result as YAML (atomically: complete or absent); returns what was written."""
    import os
    from pathlib import Path

    import yaml

    doc = session.to_json()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(yaml.safe_dump(doc, sort_keys=False, default_flow_style=None))
    os.replace(tmp, path)
    return doc
