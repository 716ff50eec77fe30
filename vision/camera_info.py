"""Camera intrinsics <-> the ROS camera_info YAML format (camera_calibration_parsers).

The file written here is what ``ros2 run camera_calibration cameracalibrator`` writes and what
``camera_info_manager`` loads (``camera_info_url: file:///path/camera.yaml``)::

    image_width: 640
    image_height: 480
    camera_name: officina
    camera_matrix: {rows: 3, cols: 3, data: [fx, 0, cx, 0, fy, cy, 0, 0, 1]}
    distortion_model: plumb_bob            # 5 coefficients k1 k2 p1 p2 k3 (OpenCV order)
    distortion_coefficients: {rows: 1, cols: 5, data: [...]}
    rectification_matrix: {rows: 3, cols: 3, data: [1, 0, 0, 0, 1, 0, 0, 0, 1]}
    projection_matrix: {rows: 3, cols: 4, data: [fx, 0, cx, 0, 0, fy, cy, 0, 0, 0, 1, 0]}
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from officina.interfaces import CameraIntrinsics, read_yaml

__all__ = ["read_camera_info", "write_camera_info", "camera_info_dict", "intrinsics_from_camera_info"]

_MODELS = {5: "plumb_bob", 8: "rational_polynomial"}


def _matrix(doc: dict, key: str, rows: int, cols: int, source: str) -> np.ndarray:
    if key not in doc:
        raise ValueError(f"{source}: missing '{key}' (expected a ROS camera_info YAML)")
    m = doc[key]
    data = m.get("data") if isinstance(m, dict) else m
    try:
        a = np.asarray(data, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        raise ValueError(f"{source}: '{key}' must hold a list of numbers") from None
    if a.size != rows * cols:
        raise ValueError(f"{source}: '{key}' has {a.size} values; expected {rows}x{cols}")
    return a.reshape(rows, cols)


def intrinsics_from_camera_info(doc: dict[str, Any], source: str = "camera_info") -> CameraIntrinsics:
    """Intrinsics from a parsed camera_info mapping (ROS 1/2 YAML keys; also the ROS 2 message's k/d)."""
    if not isinstance(doc, dict):
        raise ValueError(f"{source}: expected a YAML mapping with camera_matrix, got {type(doc).__name__}")
    try:
        width = int(doc.get("image_width", doc.get("width")))
        height = int(doc.get("image_height", doc.get("height")))
    except (TypeError, ValueError):
        raise ValueError(f"{source}: missing or invalid image_width/image_height") from None
    if "camera_matrix" not in doc and "k" in doc:  # a dumped sensor_msgs/CameraInfo message
        doc = {**doc, "camera_matrix": doc["k"], "distortion_coefficients": doc.get("d", [])}
    K = _matrix(doc, "camera_matrix", 3, 3, source)
    model = str(doc.get("distortion_model", "plumb_bob"))
    if model not in ("plumb_bob", "rational_polynomial", ""):
        raise ValueError(f"{source}: distortion_model {model!r} is not supported; expected plumb_bob or rational_polynomial")
    dist_doc = doc.get("distortion_coefficients", {"data": []})
    dist = np.asarray(dist_doc.get("data", []) if isinstance(dist_doc, dict) else dist_doc, dtype=float).reshape(-1)
    if dist.size == 0:
        dist = np.zeros(5)
    if width <= 0 or height <= 0 or K[0, 0] <= 0 or K[1, 1] <= 0:
        raise ValueError(f"{source}: image size and focal lengths must be positive")
    return CameraIntrinsics(
        width, height, float(K[0, 0]), float(K[1, 1]), float(K[0, 2]), float(K[1, 2]), tuple(float(d) for d in dist)
    )


def read_camera_info(path: str | os.PathLike) -> CameraIntrinsics:
    """Read intrinsics from a ROS camera_info YAML file (ValueError with one line if it is wrong)."""
    return intrinsics_from_camera_info(read_yaml(path, "camera info file", mapping=True), str(path))


def camera_info_dict(intr: CameraIntrinsics, camera_name: str = "officina") -> dict[str, Any]:
    """The ROS camera_info YAML mapping of intrinsics (rectification = identity, P = [K | 0])."""
    dist = [float(d) for d in intr.distortion]
    if len(dist) not in _MODELS:
        raise ValueError(f"camera_info: {len(dist)} distortion coefficients; expected 5 (plumb_bob) or 8 (rational_polynomial)")
    K = intr.K
    P = np.hstack([K, np.zeros((3, 1))])
    return {
        "image_width": int(intr.width),
        "image_height": int(intr.height),
        "camera_name": camera_name,
        "camera_matrix": {"rows": 3, "cols": 3, "data": [float(v) for v in K.reshape(-1)]},
        "distortion_model": _MODELS[len(dist)],
        "distortion_coefficients": {"rows": 1, "cols": len(dist), "data": dist},
        "rectification_matrix": {"rows": 3, "cols": 3, "data": [float(v) for v in np.eye(3).reshape(-1)]},
        "projection_matrix": {"rows": 3, "cols": 4, "data": [float(v) for v in P.reshape(-1)]},
    }


def write_camera_info(
    path: str | os.PathLike, intr: CameraIntrinsics, camera_name: str = "officina", extra: dict | None = None
) -> Path:
    """Write intrinsics as ROS camera_info YAML (atomically). ``extra`` keys are appended (ignored by ROS)."""
    path = Path(path)
    doc = camera_info_dict(intr, camera_name)
    if extra:
        doc.update(extra)
    tmp = path.with_name(path.name + ".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_text(yaml.safe_dump(doc, sort_keys=False, default_flow_style=None))
    os.replace(tmp, path)
    return path
