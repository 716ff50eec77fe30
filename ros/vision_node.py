"""`officina ros vision`: fiducial markers and markerless objects from a camera stream.

In: ``image_topic`` (sensor_msgs/Image: rgb8, bgr8 or mono8; sensor-data QoS),
``camera_info_topic`` (sensor_msgs/CameraInfo), optionally ``depth_topic`` (32FC1 metres or 16UC1
millimetres, same stamp as the image) and the camera's pose in the world on
``camera_pose_topic`` (geometry_msgs/PoseStamped, latched, as the sim publishes it) or the
``camera_pose`` parameter ``[x, y, z, qx, qy, qz, qw]``.
Out, under ``output_namespace`` (default ``/vision``):

* ``markers`` (geometry_msgs/PoseArray, camera optical frame, sorted by marker id) and
  ``marker_<id>`` (geometry_msgs/PoseStamped, one topic per id seen; reliable);
* ``objects`` (geometry_msgs/PoseArray, world frame: centre of each box/cylinder, yaw about world
  z) when depth and the camera pose are known;
* ``annotated`` (sensor_msgs/Image rgb8: marker outlines, axes and ids, object centroids).

The node processes the newest image at ``rate_hz``; detection and localisation are
`officina.vision.markers.detect_markers` and `officina.vision.localize.localize_objects`
(`process_frame` here is the pure core). A malformed message is counted, logged and dropped.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np
from officina.ros.convert import (
    MalformedMessage, image_from_msg, image_msg, intrinsics_from_camera_info, pose_msg, time_to_s,
)
from officina.ros.params import declare
from officina.ros.qos import qos_latched, qos_reliable, qos_sensor
from rclpy.node import Node

from officina.interfaces import CameraFrame, CameraIntrinsics

__all__ = ["VisionConfig", "VisionNode", "VisionResult", "annotate", "process_frame"]


@dataclass(frozen=True)
class VisionConfig:
    dictionary: str = "DICT_4X4_50"
    marker_length_m: float = 0.05
    corner_refinement: str = "apriltag"
    localize: bool = True
    table_height_m: float | None = None
    min_height_m: float = 0.008
    xy_bounds: tuple[float, float, float, float] | None = None


@dataclass
class VisionResult:
    markers: list = field(default_factory=list)  # MarkerDetection (with camera_T_marker)
    objects: list = field(default_factory=list)  # LocalizedObject (world frame)
    localized: bool = False  # objects were looked for (depth and extrinsics were there)


def process_frame(rgb: np.ndarray, depth_m: np.ndarray | None, intr: CameraIntrinsics,
                  world_T_camera: np.ndarray | None, cfg: VisionConfig) -> VisionResult:
    """Markers (camera frame) and, with depth and extrinsics, objects on the table (world frame)."""
    from officina.vision.localize import LocalizeParams, localize_objects
    from officina.vision.markers import MarkerParams, detect_markers

    out = VisionResult()
    out.markers = detect_markers(rgb, intr, MarkerParams(cfg.dictionary, cfg.marker_length_m, cfg.corner_refinement))
    if cfg.localize and depth_m is not None and world_T_camera is not None:
        if depth_m.shape[:2] != rgb.shape[:2]:
            raise MalformedMessage(f"depth is {depth_m.shape[1]}x{depth_m.shape[0]}, image {rgb.shape[1]}x{rgb.shape[0]}")
        lp = LocalizeParams(table_height_m=cfg.table_height_m, min_height_m=cfg.min_height_m,
                            xy_bounds=cfg.xy_bounds)
        frame = CameraFrame(0.0, rgb, np.asarray(depth_m, np.float32))
        out.objects = localize_objects(frame, intr, world_T_camera, lp)
        out.localized = True
    return out


def annotate(rgb: np.ndarray, intr: CameraIntrinsics, result: VisionResult, marker_length_m: float) -> np.ndarray:
    """An RGB copy with marker outlines, ids and axes and object centroids drawn on it."""
    import cv2

    img = np.ascontiguousarray(rgb if rgb.ndim == 3 else np.repeat(rgb[..., None], 3, axis=2)).astype(np.uint8)
    img = img.copy()
    dist = np.asarray(intr.distortion, float)
    for m in result.markers:
        pts = np.round(m.corners_px).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(img, [pts], True, (0, 255, 0), 2)
        c = m.corners_px.mean(axis=0)
        cv2.putText(img, str(m.id), (int(c[0]), int(c[1])), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 0, 0), 2)
        if m.camera_T_marker is not None:
            rvec, _ = cv2.Rodrigues(m.camera_T_marker[:3, :3])
            cv2.drawFrameAxes(img, intr.K, dist, rvec, m.camera_T_marker[:3, 3], 0.5 * marker_length_m, 2)
    for o in result.objects:
        u, v = o.centroid_px
        cv2.drawMarker(img, (int(u), int(v)), (255, 0, 255), cv2.MARKER_CROSS, 16, 2)
        cv2.putText(img, o.kind, (int(u) + 6, int(v) - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 0, 255), 1)
    return img


def _yaw_quat(yaw: float) -> tuple[float, float, float, float]:
    return (0.0, 0.0, math.sin(yaw / 2.0), math.cos(yaw / 2.0))


class VisionNode(Node):
    def __init__(self, *, context=None, parameter_overrides=None) -> None:
        super().__init__("officina_vision", context=context, parameter_overrides=parameter_overrides or [])
        from geometry_msgs.msg import PoseArray, PoseStamped
        from rclpy.parameter import Parameter
        from sensor_msgs.msg import CameraInfo, Image

        from officina.errors import BadInput

        p = {
            "image_topic": declare(self, "image_topic", "/camera/image_raw", "colour or mono image in"),
            "camera_info_topic": declare(self, "camera_info_topic", "/camera/camera_info", "intrinsics in"),
            "depth_topic": declare(self, "depth_topic", "/camera/depth/image_raw",
                                   "depth image in (32FC1 m or 16UC1 mm; '' = none)"),
            "camera_pose_topic": declare(self, "camera_pose_topic", "/camera/pose",
                                         "world_T_camera (PoseStamped, latched; '' = none)"),
            "camera_pose": declare(self, "camera_pose", Parameter.Type.DOUBLE_ARRAY,
                                   "fixed world_T_camera [x y z qx qy qz qw] (unset = from the topic)"),
            "output_namespace": declare(self, "output_namespace", "/vision", "namespace of the outputs"),
            "dictionary": declare(self, "dictionary", "DICT_4X4_50", "marker dictionary (OpenCV name, e.g. "
                                  "DICT_4X4_50, DICT_APRILTAG_36H11)", read_only=False),
            "marker_length_m": declare(self, "marker_length_m", 0.05, "side of the markers' black square [m]",
                                       read_only=False, floating_point_range=(0.001, 10.0)),
            "corner_refinement": declare(self, "corner_refinement", "apriltag", "apriltag | subpix | contour | none",
                                         read_only=False),
            "localize_objects": declare(self, "localize_objects", True, "markerless boxes/cylinders (needs depth "
                                        "and the camera pose)", read_only=False),
            "table_height_m": declare(self, "table_height_m", -1.0, "world z of the table top (< 0: estimated)",
                                      read_only=False),
            "workspace_xy": declare(self, "workspace_xy", Parameter.Type.DOUBLE_ARRAY,
                                    "[xmin xmax ymin ymax] world region where objects are looked for (unset: all)",
                                    read_only=False),
            "rate_hz": declare(self, "rate_hz", 10.0, "processing rate (newest image) [Hz]",
                               floating_point_range=(0.1, 100.0)),
            "depth_sync_tolerance_s": declare(self, "depth_sync_tolerance_s", 0.02,
                                              "largest image/depth stamp difference [s]"),
        }
        try:
            self.cfg = self._config({k: v for k, v in p.items()})
        except ValueError as exc:
            raise BadInput(f"vision parameters: {exc}") from None
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.sync_tol = float(p["depth_sync_tolerance_s"])
        self.world_T_camera: np.ndarray | None = None
        if p["camera_pose"]:
            self.world_T_camera = self._pose_param(list(p["camera_pose"]))
        ns = "/" + str(p["output_namespace"]).strip("/")
        self.ns = ns if ns != "/" else ""
        self.intr: CameraIntrinsics | None = None
        self._image = None  # newest unprocessed Image message
        self._depth: deque[tuple[float, np.ndarray]] = deque(maxlen=8)  # (stamp, depth) newest last
        self.counts = {"images": 0, "processed": 0, "malformed": 0, "markers": 0, "objects": 0}
        self.last_error = ""

        self.pub_markers = self.create_publisher(PoseArray, f"{self.ns}/markers", qos_reliable())
        self.pub_objects = self.create_publisher(PoseArray, f"{self.ns}/objects", qos_reliable())
        self.pub_annotated = self.create_publisher(Image, f"{self.ns}/annotated", qos_sensor())
        self.pub_marker_id: dict[int, object] = {}
        self._PoseStamped = PoseStamped
        self.create_subscription(Image, p["image_topic"], self._on_image, qos_sensor())
        self.create_subscription(CameraInfo, p["camera_info_topic"], self._on_camera_info, qos_sensor())
        if p["depth_topic"]:
            self.create_subscription(Image, p["depth_topic"], self._on_depth, qos_sensor())
        if p["camera_pose_topic"] and self.world_T_camera is None:
            self.create_subscription(PoseStamped, p["camera_pose_topic"], self._on_camera_pose, qos_latched())
        self.timer = self.create_timer(1.0 / float(p["rate_hz"]), self._on_timer)
        self.get_logger().info(f"vision: {p['image_topic']} -> {self.ns}/markers, {self.ns}/objects, "
                               f"{self.ns}/annotated ({self.cfg.dictionary}, {self.cfg.marker_length_m} m)")

    # --- parameters -----------------------------------------------------------------------------------
    @staticmethod
    def _config(values: dict) -> VisionConfig:
        from officina.vision.markers import MarkerParams

        th = float(values["table_height_m"])
        xy = [float(v) for v in (values.get("workspace_xy") or [])]
        if xy and (len(xy) != 4 or not (xy[0] < xy[1] and xy[2] < xy[3])):
            raise ValueError(f"workspace_xy: expected [xmin xmax ymin ymax] with min < max, got {xy}")
        cfg = VisionConfig(str(values["dictionary"]), float(values["marker_length_m"]),
                           str(values["corner_refinement"]), bool(values["localize_objects"]),
                           None if th < 0 else th, xy_bounds=tuple(xy) if xy else None)
        MarkerParams(cfg.dictionary, cfg.marker_length_m, cfg.corner_refinement)  # validates
        return cfg

    def _on_set_parameters(self, params):
        from rcl_interfaces.msg import SetParametersResult

        names = ("dictionary", "marker_length_m", "corner_refinement", "localize_objects", "table_height_m",
                 "workspace_xy")
        values = {k: self.get_parameter_or(k).value for k in names}
        values.update({q.name: q.value for q in params if q.name in values})
        try:
            cfg = self._config(values)
        except (ValueError, TypeError) as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        self.cfg = cfg
        return SetParametersResult(successful=True)

    @staticmethod
    def _pose_param(v: list[float]) -> np.ndarray:
        from officina.vision.transforms import pose_to_transform

        if len(v) != 7 or not all(math.isfinite(x) for x in v):
            raise ValueError(f"camera_pose: expected [x y z qx qy qz qw], got {v}")
        q = np.asarray(v[3:], float)
        n = float(np.linalg.norm(q))
        if n < 1e-9:
            raise ValueError("camera_pose: zero quaternion")
        return pose_to_transform(v[:3], q / n)

    # --- inputs ---------------------------------------------------------------------------------------
    def _malformed(self, what: str, exc: Exception) -> None:
        self.counts["malformed"] += 1
        self.last_error = f"{what}: {type(exc).__name__}: {exc}"
        self.get_logger().warning(f"ignored {self.last_error}", throttle_duration_sec=2.0)

    def _on_image(self, msg) -> None:
        self.counts["images"] += 1
        self._image = msg

    def _on_camera_info(self, msg) -> None:
        try:
            self.intr = intrinsics_from_camera_info(msg)
        except Exception as exc:  # noqa: BLE001 - a message never kills the node
            self._malformed("camera_info", exc)

    def _on_depth(self, msg) -> None:
        try:
            d = image_from_msg(msg)
            if d.ndim != 2 or d.dtype.kind != "f":
                raise MalformedMessage(f"depth must be 32FC1 or 16UC1, got {msg.encoding}")
            self._depth.append((time_to_s(msg.header.stamp), d))
        except Exception as exc:  # noqa: BLE001
            self._malformed("depth image", exc)

    def _on_camera_pose(self, msg) -> None:
        p, o = msg.pose.position, msg.pose.orientation
        try:
            self.world_T_camera = self._pose_param([p.x, p.y, p.z, o.x, o.y, o.z, o.w])
        except Exception as exc:  # noqa: BLE001
            self._malformed("camera pose", exc)

    # --- processing -----------------------------------------------------------------------------------
    def _on_timer(self) -> None:
        msg, self._image = self._image, None
        if msg is None:
            return
        try:
            self.process(msg)
        except Exception as exc:  # noqa: BLE001 - a bad frame never kills the node
            self._malformed("image", exc)

    def process(self, msg) -> VisionResult | None:
        if self.intr is None:
            self.get_logger().info("waiting for camera_info", throttle_duration_sec=5.0)
            return None
        rgb = image_from_msg(msg)
        if rgb.dtype != np.uint8 or rgb.ndim not in (2, 3):
            raise MalformedMessage(f"expected rgb8, bgr8 or mono8, got {msg.encoding}")
        if (rgb.shape[1], rgb.shape[0]) != (self.intr.width, self.intr.height):
            raise MalformedMessage(f"image {rgb.shape[1]}x{rgb.shape[0]} but camera_info "
                                   f"{self.intr.width}x{self.intr.height}")
        stamp = time_to_s(msg.header.stamp)
        near = [(abs(t - stamp), d) for t, d in self._depth if abs(t - stamp) <= self.sync_tol]
        depth = min(near, key=lambda x: x[0])[1] if near else None
        cfg = self.cfg
        res = process_frame(rgb, depth, self.intr, self.world_T_camera, cfg)
        self._publish(msg.header, rgb, res, cfg)
        self.counts["processed"] += 1
        self.counts["markers"] += len(res.markers)
        self.counts["objects"] += len(res.objects)
        return res

    def _publish(self, header, rgb, res: VisionResult, cfg: VisionConfig) -> None:
        from geometry_msgs.msg import PoseArray

        cam = PoseArray()
        cam.header = header
        for m in res.markers:
            pose = pose_msg(m.position, m.quaternion_xyzw)
            cam.poses.append(pose)
            pub = self.pub_marker_id.get(m.id)
            if pub is None:
                pub = self.create_publisher(self._PoseStamped, f"{self.ns}/marker_{m.id}", qos_reliable())
                self.pub_marker_id[m.id] = pub
            ps = self._PoseStamped()
            ps.header = header
            ps.pose = pose
            pub.publish(ps)
        self.pub_markers.publish(cam)
        if res.localized:
            objs = PoseArray()
            objs.header.stamp = header.stamp
            objs.header.frame_id = "world"
            objs.poses = [pose_msg(o.position, _yaw_quat(o.yaw_rad)) for o in res.objects]
            self.pub_objects.publish(objs)
        if self.pub_annotated.get_subscription_count() > 0:
            img = annotate(rgb, self.intr, res, cfg.marker_length_m)
            self.pub_annotated.publish(image_msg(img, time_to_s(header.stamp), header.frame_id, "rgb8"))
