"""`officina ros exo`: the exo monitor. A person's joint angles in; the L5/S1 load and the
exoskeleton's assistive torque out.

In: ``joint_states_topic`` (default ``/human/joint_states``, sensor_msgs/JointState, rad): the six
sagittal joints of `officina.exoskeleton.model.JOINTS` (ankle, knee, hip, l5s1, shoulder, elbow;
names on the wire from the ``joint_names`` parameter, any order, extra joints ignored), from motion
capture or IMUs.

Out, under ``output_namespace`` (default ``/exo``), stamped with the input's stamp:

* ``l5s1/wrench`` (geometry_msgs/WrenchStamped, frame ``l5s1``): the net force and moment the
  pelvis exerts on the upper body at L5/S1, with the exoskeleton if one is set, in the L5/S1 joint
  frame (x anterior, y to the person's left, z up the trunk line). ``force.z`` is the axial
  reaction, ``force.x`` = -anterior shear, ``torque.y`` = -(net extensor moment) (extension is a
  rotation about -y). Zero-velocity postures give the static model's numbers exactly.
* ``l5s1/wrench_no_exo`` (same, without the device; only when an exo is set).
* ``l5s1/loads`` (std_msgs/Float64MultiArray, labelled in ``layout.dim``): extensor moment [N m],
  compression [N] (single-equivalent-muscle model, 5 cm moment arm), anterior shear [N], the same
  three without the exo, and the exo's chest-pad, thigh-cuff and hip-belt forces [N].
* ``assist_torque`` (std_msgs/Float64MultiArray, one value): the device's hinge torque [N m,
  + = extension, both sides]. A Float64MultiArray, not a WrenchStamped, because it is the command
  of a one-joint actuator: ros2_control's forward effort controller takes exactly this message, so
  an active exo's driver can subscribe to it as ``<effort_controller>/commands``.

``dynamic`` false (default): quasi-static (velocities and accelerations zero), the usual
ergonomic assessment. ``dynamic`` true: velocities from the message (or finite differences of
positions when it has none) and accelerations by finite differences, so RNEA adds the inertial
terms; filter noisy data upstream. Active exos give their commanded (steady-state) torque; the
actuator lag is not modelled per message. The computation is `officina.exoskeleton.worker.
posture_loads` (Pinocchio RNEA of the de Leva model with the load at the hands), the same model
code `officina compare` runs over a whole lift; `ExoMonitor` is the pure core.
"""

from __future__ import annotations

import numpy as np
from officina.exoskeleton.worker import PostureLoads as ExoLoads
from officina.ros.convert import MalformedMessage, joint_state_from_msg
from officina.ros.params import declare
from officina.ros.qos import qos_reliable
from rclpy.node import Node

__all__ = ["BACK_EXOS", "LOADS_LABELS", "ExoLoads", "ExoMonitor", "ExoNode"]

LOADS_LABELS = ("l5s1_moment_nm", "compression_n", "shear_n", "l5s1_moment_no_exo_nm", "compression_no_exo_n",
                "shear_no_exo_n", "chest_pad_force_n", "thigh_cuff_force_n", "hip_belt_force_n")
BACK_EXOS = ("none", "passive", "active", "laevo", "spexor", "plad", "xotrunk")


class ExoMonitor:
    """Per-posture L5/S1 loads of a person (model) holding ``load_kg``, with an optional back exo:
    :func:`officina.exoskeleton.worker.posture_loads`, the model code `officina compare` uses."""

    def __init__(self, body_mass_kg: float = 75.0, stature_m: float = 1.75, sex: str = "male",
                 load_kg: float = 0.0, exo: str = "none") -> None:
        from officina.exoskeleton.model import human_model
        from officina.exoskeleton.worker import back_exo

        if not (load_kg >= 0 and np.isfinite(load_kg)):
            raise ValueError(f"load_kg: expected >= 0, got {load_kg!r}")
        if str(exo).strip().lower() not in BACK_EXOS:
            raise ValueError(f"exo: expected a back exoskeleton, one of {', '.join(BACK_EXOS)}; got {exo!r}")
        self.model = human_model(float(body_mass_kg), float(stature_m), str(sex))
        self.exo = back_exo(exo)
        self.load_kg = float(load_kg)

    def loads(self, q, qd=None, qdd=None) -> ExoLoads:
        from officina.exoskeleton.worker import posture_loads

        try:
            return posture_loads(self.model, q, self.load_kg, self.exo, qd, qdd)
        except ValueError as exc:
            raise MalformedMessage(str(exc)) from None


class ExoNode(Node):
    def __init__(self, *, context=None, parameter_overrides=None) -> None:
        super().__init__("officina_exo", context=context, parameter_overrides=parameter_overrides or [])
        from geometry_msgs.msg import WrenchStamped
        from officina.exoskeleton.model import JOINTS
        from sensor_msgs.msg import JointState
        from std_msgs.msg import Float64MultiArray

        from officina.errors import BadInput

        p = {
            "joint_states_topic": declare(self, "joint_states_topic", "/human/joint_states",
                                          "the person's joint angles (sensor_msgs/JointState, rad)"),
            "joint_names": declare(self, "joint_names", list(JOINTS),
                                   "names on the wire of ankle, knee, hip, l5s1, shoulder, elbow"),
            "output_namespace": declare(self, "output_namespace", "/exo", "namespace of the outputs"),
            "body_mass_kg": declare(self, "body_mass_kg", 75.0, "body mass of the person [kg]",
                                    floating_point_range=(30.0, 250.0)),
            "stature_m": declare(self, "stature_m", 1.75, "stature of the person [m]",
                                 floating_point_range=(1.2, 2.3)),
            "sex": declare(self, "sex", "male", "male | female (de Leva's 1996 table)"),
            "load_kg": declare(self, "load_kg", 0.0, "mass held at the hands [kg]", read_only=False,
                               floating_point_range=(0.0, 100.0)),
            "exo": declare(self, "exo", "none", "back exo: " + " | ".join(BACK_EXOS)),
            "dynamic": declare(self, "dynamic", False, "add inertial terms (velocities, finite-difference "
                               "accelerations); false: quasi-static"),
            "rate_hz": declare(self, "rate_hz", 50.0, "processing rate (newest posture) [Hz]",
                               floating_point_range=(0.1, 1000.0)),
        }
        names = tuple(p["joint_names"])
        if len(names) != len(JOINTS) or len(set(names)) != len(names):
            raise BadInput(f"joint_names: expected {len(JOINTS)} distinct names ({', '.join(JOINTS)}), got {names}")
        self.names = names
        self._p = p
        try:
            self.monitor = ExoMonitor(p["body_mass_kg"], p["stature_m"], p["sex"], p["load_kg"], p["exo"])
        except ValueError as exc:
            raise BadInput(f"exo parameters: {exc}") from None
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.dynamic = bool(p["dynamic"])
        ns = "/" + str(p["output_namespace"]).strip("/")
        ns = "" if ns == "/" else ns
        self._msg = None
        self._prev: tuple[float, np.ndarray, np.ndarray] | None = None  # (t, q, qd) of the last posture
        self.counts = {"postures": 0, "processed": 0, "malformed": 0}
        self.last_error = ""
        self.last: ExoLoads | None = None
        self.pub_wrench = self.create_publisher(WrenchStamped, f"{ns}/l5s1/wrench", qos_reliable())
        self.pub_wrench_no = (self.create_publisher(WrenchStamped, f"{ns}/l5s1/wrench_no_exo", qos_reliable())
                              if self.monitor.exo is not None else None)
        self.pub_loads = self.create_publisher(Float64MultiArray, f"{ns}/l5s1/loads", qos_reliable())
        self.pub_assist = self.create_publisher(Float64MultiArray, f"{ns}/assist_torque", qos_reliable())
        self.create_subscription(JointState, p["joint_states_topic"], self._on_joint_state, qos_reliable())
        self.timer = self.create_timer(1.0 / float(p["rate_hz"]), self._on_timer)
        self.get_logger().info(
            f"exo monitor: {p['joint_states_topic']} -> {ns}/l5s1/wrench, {ns}/assist_torque; "
            f"{p['body_mass_kg']} kg, {p['stature_m']} m {p['sex']}, load {p['load_kg']} kg, exo {p['exo']}")

    def _on_set_parameters(self, params):
        from rcl_interfaces.msg import SetParametersResult

        for q in params:
            if q.name == "load_kg":
                try:
                    v = float(q.value)
                    if not (0.0 <= v <= 100.0):
                        raise ValueError(f"load_kg: expected 0 to 100 kg, got {q.value!r}")
                except (TypeError, ValueError) as exc:
                    return SetParametersResult(successful=False, reason=str(exc))
                self.monitor.load_kg = v
        return SetParametersResult(successful=True)

    def _on_joint_state(self, msg) -> None:
        self.counts["postures"] += 1
        self._msg = msg

    def _on_timer(self) -> None:
        msg, self._msg = self._msg, None
        if msg is None:
            return
        try:
            self.process(msg)
        except Exception as exc:  # noqa: BLE001 - a message never kills the node
            self.counts["malformed"] += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            self.get_logger().warning(f"ignored joint state: {self.last_error}", throttle_duration_sec=2.0)

    def process(self, msg) -> ExoLoads:
        st = joint_state_from_msg(msg, self.names)
        q = st.position
        qd = qdd = None
        if self.dynamic:
            has_v = len(msg.velocity) == len(msg.name)
            qd = st.velocity if has_v else np.zeros(6)
            qdd = np.zeros(6)
            if self._prev is not None and st.stamp > self._prev[0]:
                dt = st.stamp - self._prev[0]
                if not has_v:
                    qd = (q - self._prev[1]) / dt
                qdd = (qd - self._prev[2]) / dt
            self._prev = (st.stamp, q.copy(), np.asarray(qd, float).copy())
        out = self.monitor.loads(q, qd, qdd)
        self.last = out
        self._publish(msg.header.stamp, out)
        self.counts["processed"] += 1
        return out

    def _publish(self, stamp, out: ExoLoads) -> None:
        from geometry_msgs.msg import WrenchStamped
        from std_msgs.msg import Float64MultiArray, MultiArrayDimension

        def wrench(moment, shear, axial):
            w = WrenchStamped()
            w.header.stamp = stamp
            w.header.frame_id = "l5s1"
            w.wrench.force.x, w.wrench.force.z = -float(shear), float(axial)
            w.wrench.torque.y = -float(moment)
            return w

        self.pub_wrench.publish(wrench(out.moment, out.shear, out.axial))
        if self.pub_wrench_no is not None:
            self.pub_wrench_no.publish(wrench(out.moment_no_exo, out.shear_no_exo, out.axial_no_exo))
        loads = Float64MultiArray()
        loads.layout.dim = [MultiArrayDimension(label=",".join(LOADS_LABELS), size=len(LOADS_LABELS),
                                                stride=len(LOADS_LABELS))]
        loads.data = [out.moment, out.compression, out.shear, out.moment_no_exo, out.compression_no_exo,
                      out.shear_no_exo, out.chest_force, out.thigh_force, out.pelvis_force]
        self.pub_loads.publish(loads)
        self.pub_assist.publish(Float64MultiArray(data=[out.exo_torque]))
