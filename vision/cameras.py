"""Real cameras behind the `officina.interfaces.Camera` protocol, through OpenCV `VideoCapture`.

`VideoCaptureCamera` opens a device index (``0`` for /dev/video0), a video file, an image
sequence pattern (``frames/%04d.png``) or a stream URL (``rtsp://...``, ``http://...``).
Frames come as RGB (OpenCV's BGR is converted); a plain webcam has no depth (``depth_m=None``).
Intrinsics come from a ROS camera_info YAML or are given directly; extrinsics when known.
"""

from __future__ import annotations

import os
import time
from typing import Callable

import numpy as np

from officina.interfaces import CameraFrame, CameraIntrinsics

from .camera_info import read_camera_info
from .transforms import as_transform

__all__ = ["VideoCaptureCamera", "parse_source"]


def parse_source(source: int | str) -> int | str:
    """A device index stays an int ("0" -> 0); anything else is a path or URL string."""
    if isinstance(source, int):
        return source
    s = str(source).strip()
    return int(s) if s.isdigit() else s


class VideoCaptureCamera:
    """An OpenCV VideoCapture source as a `Camera`.

    ``intrinsics`` is a `CameraIntrinsics` or the path of a camera_info YAML. Its image size must
    match the stream's (checked on open). ``stamp_fn`` stamps frames (default: time.monotonic, a
    hardware clock; video files are stamped from their position, CAP_PROP_POS_MSEC / 1000).
    """

    def __init__(
        self,
        source: int | str,
        intrinsics: CameraIntrinsics | str | os.PathLike,
        world_T_camera: np.ndarray | None = None,
        *,
        stamp_fn: Callable[[], float] | None = None,
        api_preference: int | None = None,
    ) -> None:
        import cv2

        self._source = parse_source(source)
        self._intr = intrinsics if isinstance(intrinsics, CameraIntrinsics) else read_camera_info(intrinsics)
        self._world_T_camera = None if world_T_camera is None else as_transform(world_T_camera, "world_T_camera").copy()
        self._is_file = isinstance(self._source, str) and "://" not in self._source
        if self._is_file and "%" not in self._source and not os.path.exists(self._source):
            raise FileNotFoundError(f"video source not found: {self._source}")
        args = (self._source,) if api_preference is None else (self._source, api_preference)
        self._cap = cv2.VideoCapture(*args)
        if not self._cap.isOpened():
            raise ValueError(f"cannot open video source {self._source!r} (device index, video file or stream URL)")
        w = int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        h = int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        if (w, h) != (0, 0) and (w, h) != (self._intr.width, self._intr.height):
            # ask a device for the calibrated size; files cannot change theirs
            self._cap.set(cv2.CAP_PROP_FRAME_WIDTH, self._intr.width)
            self._cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self._intr.height)
            w = int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH))
            h = int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
            if (w, h) != (self._intr.width, self._intr.height):
                self._cap.release()
                raise ValueError(
                    f"video source {self._source!r} delivers {w}x{h}; the intrinsics are for "
                    f"{self._intr.width}x{self._intr.height}"
                )
        self._stamp_fn = stamp_fn

    @property
    def intrinsics(self) -> CameraIntrinsics:
        return self._intr

    def extrinsics(self) -> np.ndarray | None:
        return None if self._world_T_camera is None else self._world_T_camera.copy()

    def set_pose(self, world_T_camera: np.ndarray) -> None:
        self._world_T_camera = as_transform(world_T_camera, "world_T_camera").copy()

    def capture(self) -> CameraFrame:
        """Grab the next frame. Raises EOFError at the end of a file, RuntimeError if a device fails."""
        import cv2

        ok, bgr = self._cap.read()
        if not ok or bgr is None:
            if self._is_file:
                raise EOFError(f"end of video {self._source!r}")
            raise RuntimeError(f"video source {self._source!r} returned no frame")
        if self._stamp_fn is not None:
            stamp = float(self._stamp_fn())
        elif self._is_file:
            stamp = float(self._cap.get(cv2.CAP_PROP_POS_MSEC)) / 1000.0
        else:
            stamp = time.monotonic()
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB) if bgr.ndim == 3 else cv2.cvtColor(bgr, cv2.COLOR_GRAY2RGB)
        return CameraFrame(stamp=stamp, rgb=rgb)

    def close(self) -> None:
        self._cap.release()

    def __enter__(self) -> "VideoCaptureCamera":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
