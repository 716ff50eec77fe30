"""Simulated pinhole cameras over PyBullet, behind the `officina.interfaces.Camera` protocol.

A `SimCamera` renders RGB, metric depth and body-id segmentation with exactly the pinhole
model of its `CameraIntrinsics` (K, principal point included): a world point ``p`` lands on
pixel ``K @ (camera_T_world @ p)`` after division by z, where pixel centres are integer
coordinates (OpenCV's convention, pixel (0, 0) is the centre of the top-left pixel).

Frames: ``world_T_camera`` is the optical frame (z forward, x right, y down, ROS/OpenCV),
not OpenGL's (x right, y up, z backward); the conversion happens here and nowhere else.

A camera is either fixed (``world_T_camera``, movable with `set_pose`) or mounted on a link
(``mount=(body_id, link_index, link_T_camera)``, ``link_index=-1`` for the base), in which case
its extrinsics follow the link at every call. Every PyBullet call names ``physicsClientId``.

Lens distortion is not rendered: `SimCamera` requires zero distortion coefficients.

The pixel convention of the projection matrix is measured against PyBullet's TinyRenderer
(which samples pixel corners, not centres); ``renderer="opengl"`` needs a GUI or the EGL
plugin, and in DIRECT mode PyBullet falls back to TinyRenderer anyway.

Anti-aliasing: TinyRenderer takes one sample per pixel and samples textures nearest-texel, so
edges are staircases. The geometry is unbiased (edges, ChArUco corners and silhouettes land on
the pinhole prediction to ~0.01 px on average, tests/test_sim_camera.py), but detected corners
scatter by ~0.2 px RMS per axis, three times the scatter of an area-sampling camera. With
``supersample=s`` (odd) the RGB image is rendered at s times the resolution with the matching
K and box-filtered down (each pixel the mean of s x s samples around its centre, as a real
sensor integrates light over a pixel): corner scatter drops to ~0.07 px at s = 3, for s^2 times
the render time. Depth and segmentation stay point samples, taken at each pixel's centre.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from officina.sim.bullet import pybullet as p

from officina.interfaces import CameraFrame, CameraIntrinsics
from officina.vision.transforms import as_transform as _as_transform
from officina.vision.transforms import look_at  # re-exported: world_T_camera of a camera looking at a point

__all__ = [
    "SimCamera",
    "look_at",
    "projection_matrix_from_intrinsics",
    "view_matrix_from_extrinsics",
    "zbuffer_to_depth",
]

# Optical frame (x right, y down, z forward) -> OpenGL eye frame (x right, y up, z backward).
_GL_FROM_OPTICAL = np.diag([1.0, -1.0, -1.0, 1.0])

_RENDERERS = {"tiny": p.ER_TINY_RENDERER, "opengl": p.ER_BULLET_HARDWARE_OPENGL}


def view_matrix_from_extrinsics(world_T_camera: np.ndarray) -> list[float]:
    """PyBullet/OpenGL view matrix (16 floats, column-major) of an optical-frame camera pose."""
    gl_T_world = _GL_FROM_OPTICAL @ np.linalg.inv(world_T_camera)
    return [float(v) for v in gl_T_world.flatten(order="F")]


def projection_matrix_from_intrinsics(intr: CameraIntrinsics, near: float, far: float) -> list[float]:
    """OpenGL projection matrix (16 floats, column-major) reproducing the pinhole model K.

    PyBullet's TinyRenderer samples pixel column i at viewport x = i and returns rows flipped
    (row r at viewport y = H - 1 - r); the principal-point terms below put a camera-frame point
    with pinhole pixel (u, v) = (fx x/z + cx, fy y/z + cy) on exactly that column and row
    (checked in tests/test_sim_camera.py to a tenth of a pixel).
    """
    W, H = intr.width, intr.height
    P = np.zeros((4, 4))
    P[0, 0] = 2.0 * intr.fx / W
    P[0, 2] = 1.0 - 2.0 * intr.cx / W
    P[1, 1] = 2.0 * intr.fy / H
    P[1, 2] = 2.0 * (intr.cy + 1.0) / H - 1.0
    P[2, 2] = -(far + near) / (far - near)
    P[2, 3] = -2.0 * far * near / (far - near)
    P[3, 2] = -1.0
    return [float(v) for v in P.flatten(order="F")]


def zbuffer_to_depth(zbuf: np.ndarray, near: float, far: float) -> np.ndarray:
    """Metric depth (z along the optical axis, metres) from OpenGL's non-linear z-buffer in [0, 1]."""
    zbuf = np.asarray(zbuf, dtype=np.float64)
    return (far * near / (far - (far - near) * zbuf)).astype(np.float32)


class SimCamera:
    """A PyBullet pinhole camera: RGB, metric depth and segmentation (body ids, -1 = nothing).

    Depth beyond ``far`` (nothing hit) is reported as ``inf``. ``stamp_fn`` returns the time
    stamp of a frame (pass the world's simulation clock); without it frames are stamped 0.0.
    ``supersample`` (odd, default 1) renders s x s samples per pixel and averages them into the
    RGB image (anti-aliasing, see the module notes); depth and segmentation are sampled at the
    pixel centres whatever ``supersample`` is.
    """

    def __init__(
        self,
        client_id: int,
        intrinsics: CameraIntrinsics,
        world_T_camera: np.ndarray | None = None,
        *,
        mount: tuple[int, int, np.ndarray] | None = None,
        near: float = 0.01,
        far: float = 5.0,
        stamp_fn: Callable[[], float] | None = None,
        renderer: str = "tiny",
        supersample: int = 1,
    ) -> None:
        if (world_T_camera is None) == (mount is None):
            raise ValueError("SimCamera: pass exactly one of world_T_camera (fixed) or mount (on a link)")
        if not (0.0 < near < far):
            raise ValueError(f"SimCamera: expected 0 < near < far, got near={near}, far={far}")
        if renderer not in _RENDERERS:
            raise ValueError(f"SimCamera: unknown renderer {renderer!r}; expected one of {sorted(_RENDERERS)}")
        if intrinsics.width <= 0 or intrinsics.height <= 0:
            raise ValueError(f"SimCamera: image size must be positive, got {intrinsics.width}x{intrinsics.height}")
        if any(abs(float(d)) > 0.0 for d in intrinsics.distortion):
            raise ValueError("SimCamera: lens distortion is not rendered; expected all distortion coefficients 0")
        if int(supersample) != supersample or supersample < 1 or supersample % 2 == 0:
            raise ValueError(
                f"SimCamera: supersample must be an odd integer >= 1 (a sample at every pixel centre), got {supersample}"
            )
        self._client = int(client_id)
        self._intr = intrinsics
        self._near = float(near)
        self._far = float(far)
        self._stamp_fn = stamp_fn
        self._renderer = _RENDERERS[renderer]
        self._ss = int(supersample)
        s = self._ss
        # s x s sub-pixels per pixel: sub-pixel centre (s u + j) is at pixel u + (j - (s - 1) / 2) / s
        self._render_intr = CameraIntrinsics(
            intrinsics.width * s, intrinsics.height * s, intrinsics.fx * s, intrinsics.fy * s,
            intrinsics.cx * s + (s - 1) / 2.0, intrinsics.cy * s + (s - 1) / 2.0,
        )
        self._proj = projection_matrix_from_intrinsics(self._render_intr, self._near, self._far)
        self._world_T_camera: np.ndarray | None = None
        self._mount: tuple[int, int, np.ndarray] | None = None
        if mount is not None:
            body, link, link_T_camera = mount
            self._mount = (int(body), int(link), _as_transform(link_T_camera, "SimCamera mount link_T_camera").copy())
            if self._mount[1] < -1 or self._mount[1] >= p.getNumJoints(self._mount[0], physicsClientId=self._client):
                raise ValueError(f"SimCamera: body {self._mount[0]} has no link index {self._mount[1]}")
        else:
            self.set_pose(world_T_camera)

    @property
    def intrinsics(self) -> CameraIntrinsics:
        return self._intr

    @property
    def supersample(self) -> int:
        return self._ss

    @property
    def near(self) -> float:
        return self._near

    @property
    def far(self) -> float:
        return self._far

    def set_pose(self, world_T_camera: np.ndarray) -> None:
        """Move a fixed camera (optical frame pose in the world)."""
        if self._mount is not None:
            raise ValueError("SimCamera.set_pose: this camera is mounted on a link; move the link instead")
        self._world_T_camera = _as_transform(world_T_camera, "SimCamera world_T_camera").copy()

    def _world_T_link(self, body: int, link: int) -> np.ndarray:
        if link == -1:
            pos, orn = p.getBasePositionAndOrientation(body, physicsClientId=self._client)
            # PyBullet reports the base's inertial frame; go back to the URDF link frame.
            dyn = p.getDynamicsInfo(body, -1, physicsClientId=self._client)
            inv_pos, inv_orn = p.invertTransform(dyn[3], dyn[4])
            pos, orn = p.multiplyTransforms(pos, orn, inv_pos, inv_orn)
        else:
            st = p.getLinkState(body, link, computeForwardKinematics=True, physicsClientId=self._client)
            pos, orn = st[4], st[5]
        T = np.eye(4)
        T[:3, :3] = np.asarray(p.getMatrixFromQuaternion(orn), dtype=float).reshape(3, 3)
        T[:3, 3] = pos
        return T

    def extrinsics(self) -> np.ndarray:
        """4x4 ``world_T_camera`` of the optical frame, now (a mounted camera follows its link)."""
        if self._mount is not None:
            body, link, link_T_camera = self._mount
            return self._world_T_link(body, link) @ link_T_camera
        assert self._world_T_camera is not None
        return self._world_T_camera.copy()

    def capture(self) -> CameraFrame:
        """Render one frame: rgb uint8 HxWx3, depth_m float32 (inf where nothing), segmentation int32."""
        import cv2

        world_T_camera = self.extrinsics()
        W, H, s = self._intr.width, self._intr.height, self._ss
        _, _, rgba, zbuf, seg = p.getCameraImage(
            self._render_intr.width,
            self._render_intr.height,
            viewMatrix=view_matrix_from_extrinsics(world_T_camera),
            projectionMatrix=self._proj,
            renderer=self._renderer,
            physicsClientId=self._client,
        )
        # alpha dropped by OpenCV: numpy's strided copy of 3 bytes in 4 takes some 50 times longer
        rgb = cv2.cvtColor(np.asarray(rgba, dtype=np.uint8).reshape(H * s, W * s, 4), cv2.COLOR_RGBA2RGB)
        zbuf = np.asarray(zbuf, dtype=np.float64).reshape(H * s, W * s)
        segmentation = np.asarray(seg, dtype=np.int32).reshape(H * s, W * s)
        if s > 1:
            rgb = rgb.reshape(H, s, W, s, 3).mean(axis=(1, 3))
            rgb = np.rint(rgb).astype(np.uint8)
            c = s // 2  # the sub-pixel at the pixel's centre
            zbuf = zbuf[c::s, c::s]
            segmentation = segmentation[c::s, c::s]
        rgb = np.ascontiguousarray(rgb)
        zbuf = np.ascontiguousarray(zbuf)
        segmentation = np.ascontiguousarray(segmentation)
        depth = zbuffer_to_depth(zbuf, self._near, self._far)
        depth[zbuf >= 1.0] = np.inf
        stamp = float(self._stamp_fn()) if self._stamp_fn is not None else 0.0
        return CameraFrame(stamp=stamp, rgb=rgb, depth_m=depth, segmentation=segmentation)
