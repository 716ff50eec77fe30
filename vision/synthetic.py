"""Synthetic images with exact ground truth: a planar texture (marker, board) seen by a pinhole
camera at a known pose, rendered by a homography (cv2.warpPerspective) with supersampling.

These are for tests and benchmarks; the PyBullet route is `officina.sim.camera.SimCamera`.
"""

from __future__ import annotations

import numpy as np

from officina.interfaces import CameraIntrinsics

from .markers import marker_image

__all__ = ["render_plane", "marker_texture", "random_view"]


def marker_texture(dictionary: str, marker_id: int, marker_length_m: float, px: int = 200, quiet_zone: float = 0.25):
    """(texture uint8, A) of a marker with a white quiet zone; A maps texture pixel centres
    (c, r, 1) to the marker frame (x right, y up, origin at the centre), metres."""
    import cv2

    core = marker_image(dictionary, marker_id, px)
    pad = int(round(quiet_zone * px))
    tex = cv2.copyMakeBorder(core, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=255)
    m = marker_length_m / px
    half = tex.shape[0] / 2.0
    A = np.array([[m, 0.0, (0.5 - half) * m], [0.0, -m, (half - 0.5) * m], [0.0, 0.0, 1.0]])
    return tex, A


def render_plane(
    texture: np.ndarray,
    texture_to_plane: np.ndarray,
    camera_T_plane: np.ndarray,
    intr: CameraIntrinsics,
    *,
    background: np.ndarray | int = 128,
    supersample: int = 4,
    noise_std: float = 0.0,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Render a planar texture (plane z = 0 of its frame) into an HxW uint8 gray image.

    ``texture_to_plane`` (3x3) maps texture pixel centres (c, r, 1) to plane (x, y, 1) in metres.
    Each output pixel is the mean of ``supersample``^2 samples (box filter). Pixels where the plane
    is not seen keep ``background``. Gaussian noise of ``noise_std`` grey levels needs ``rng``.
    """
    import cv2

    if intr.distortion and any(abs(d) > 0 for d in intr.distortion):
        raise ValueError("render_plane: distortion is not rendered; expected zero distortion coefficients")
    T = np.asarray(camera_T_plane, dtype=float)
    if T[2, 3] <= 0:
        raise ValueError("render_plane: the plane origin must be in front of the camera (z > 0)")
    s = int(supersample)
    S = np.array([[s, 0, (s - 1) / 2.0], [0, s, (s - 1) / 2.0], [0, 0, 1.0]])
    H = S @ intr.K @ np.column_stack([T[:3, 0], T[:3, 1], T[:3, 3]]) @ np.asarray(texture_to_plane, dtype=float)
    size = (intr.width * s, intr.height * s)
    tex = np.asarray(texture, dtype=np.uint8)
    warped = cv2.warpPerspective(tex, H, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    mask = cv2.warpPerspective(np.full(tex.shape[:2], 255, np.uint8), H, size, flags=cv2.INTER_LINEAR, borderValue=0)
    if np.isscalar(background):
        bg = np.full((size[1], size[0]), float(background))
    else:
        bg = cv2.resize(np.asarray(background, dtype=np.float64), size, interpolation=cv2.INTER_NEAREST)
    alpha = mask.astype(np.float64) / 255.0
    hi = warped.astype(np.float64) * alpha + bg * (1.0 - alpha)
    img = cv2.resize(hi, (intr.width, intr.height), interpolation=cv2.INTER_AREA)
    if noise_std > 0:
        if rng is None:
            raise ValueError("render_plane: noise_std > 0 needs a seeded rng (numpy.random.Generator)")
        img = img + rng.normal(0.0, noise_std, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def random_view(
    rng: np.random.Generator,
    distance_m: float,
    max_tilt_deg: float,
    *,
    target=(0.0, 0.0, 0.0),
    max_roll_deg: float = 180.0,
    min_tilt_deg: float = 0.0,
) -> np.ndarray:
    """A ``camera_T_plane`` looking at ``target`` (plane frame) from ``distance_m``, the viewing
    direction tilted by ``min_tilt_deg`` to ``max_tilt_deg`` (uniform) from the plane normal (+z of
    the plane faces the camera in the marker convention), rolled randomly about the optical axis."""
    from .transforms import invert, look_at, make_transform, rotvec_to_matrix

    tilt = np.deg2rad(rng.uniform(min_tilt_deg, max_tilt_deg))
    az = rng.uniform(0, 2 * np.pi)
    d = np.array([np.sin(tilt) * np.cos(az), np.sin(tilt) * np.sin(az), np.cos(tilt)])
    eye = np.asarray(target, dtype=float) + distance_m * d
    up = np.array([0.0, 1.0, 0.0]) if abs(d[1]) < 0.9 else np.array([1.0, 0.0, 0.0])
    plane_T_camera = look_at(eye, target, up)
    roll = np.deg2rad(rng.uniform(-max_roll_deg, max_roll_deg))
    plane_T_camera = plane_T_camera @ make_transform(rotvec_to_matrix([0, 0, roll]), np.zeros(3))
    return invert(plane_T_camera)


def plane_T_texture_frame(texture_shape: tuple[int, ...], texture_to_frame: np.ndarray) -> tuple[np.ndarray, tuple[float, float]]:
    """For a texture laid on a plane as `officina.sim.markers.add_textured_plane` does (centred,
    columns along +x, rows along -y, facing +z): (plane_T_frame 4x4, size_m (w, h)), where "frame"
    is the frame ``texture_to_frame`` maps texture pixels into (marker frame, board frame)."""
    Ht, Wt = texture_shape[:2]
    A = np.asarray(texture_to_frame, dtype=float)
    m = float(np.hypot(A[0, 0], A[1, 0]))
    P = np.array([[m, 0.0, (0.5 - Wt / 2.0) * m], [0.0, -m, (Ht / 2.0 - 0.5) * m], [0.0, 0.0, 1.0]])
    M = P @ np.linalg.inv(A)  # frame (x, y, 1) -> plane (x, y, 1)
    x = np.array([M[0, 0], M[1, 0], 0.0])
    y = np.array([M[0, 1], M[1, 1], 0.0])
    T = np.eye(4)
    T[:3, 0], T[:3, 1], T[:3, 2] = x, y, np.cross(x, y)
    T[:2, 3] = M[:2, 2]
    return T, (Wt * m, Ht * m)
