"""Textured planes in a PyBullet world (markers, calibration boards) for ground-truth images.

The texture comes in as an image array; poses use ``officina.vision.transforms`` (pure NumPy).
"""

from __future__ import annotations

import os
import tempfile

import numpy as np
from officina.sim.bullet import pybullet as p

from officina.vision.transforms import matrix_to_quat

__all__ = ["add_textured_plane"]


def add_textured_plane(
    client_id: int,
    image: np.ndarray,
    size_m: tuple[float, float],
    world_T_plane: np.ndarray,
) -> int:
    """Add a static, collision-free textured rectangle; returns its body id.

    ``image`` (HxW gray or HxWx3 RGB uint8) covers ``size_m`` = (width, height) in metres, centred
    on the plane frame's origin: image columns run along the plane's +x, image rows along its -y
    (the image's top edge at +y), and the textured side faces +z — the ArUco marker convention.
    """
    import cv2

    img = np.asarray(image)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"add_textured_plane: expected an HxW or HxWx3 uint8 image, got {img.shape} {img.dtype}")
    T = np.asarray(world_T_plane, dtype=float)
    if T.shape != (4, 4):
        raise ValueError(f"add_textured_plane: world_T_plane must be 4x4, got {T.shape}")
    w, h = float(size_m[0]) / 2.0, float(size_m[1]) / 2.0
    vertices = [[-w, -h, 0.0], [w, -h, 0.0], [w, h, 0.0], [-w, h, 0.0]]
    # OpenGL texture convention: v = 0 is the image's last row. TinyRenderer samples the nearest
    # texel with texel i spanning [i / W, (i + 1) / W): measured, rendered board corners land on the
    # pinhole prediction to ~0.01 px (tests/test_sim_camera.py::test_textured_board_corners_are_unbiased)
    uvs = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]
    indices = [0, 1, 2, 0, 2, 3]
    normals = [[0.0, 0.0, 1.0]] * 4
    vis = p.createVisualShape(
        p.GEOM_MESH, vertices=vertices, indices=indices, uvs=uvs, normals=normals, physicsClientId=client_id
    )
    q = matrix_to_quat(T[:3, :3]).tolist()
    body = p.createMultiBody(0, -1, vis, basePosition=T[:3, 3].tolist(), baseOrientation=q, physicsClientId=client_id)
    fd, path = tempfile.mkstemp(suffix=".png", prefix="officina_texture_")
    os.close(fd)
    try:
        cv2.imwrite(path, cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        tex = p.loadTexture(path, physicsClientId=client_id)
    finally:
        os.unlink(path)
    p.changeVisualShape(body, -1, textureUniqueId=tex, rgbaColor=[1, 1, 1, 1], physicsClientId=client_id)
    return body
