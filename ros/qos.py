"""The QoS profiles officina's nodes use, chosen per kind of data."""

from __future__ import annotations

__all__ = ["qos_reliable", "qos_command_stream", "COMMAND_STREAM_DEPTH", "qos_best_effort", "qos_latched", "qos_sensor"]

COMMAND_STREAM_DEPTH = 100  # 0.4 s of a 250 Hz stream


def qos_reliable(depth: int = 10):
    """Reliable, volatile: commands, joint states, trajectories (nothing may be dropped)."""
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    return QoSProfile(depth=depth, reliability=ReliabilityPolicy.RELIABLE)


def qos_command_stream():
    """Reliable, volatile, `COMMAND_STREAM_DEPTH` deep: a stream of one position command per control
    period (the task's to the gate, the gate's to the arm's forward controller). A keep-last
    history is reliable only while it is deeper than what waits in it: a reader (or a writer
    waiting for its acknowledgements) whose process is descheduled for longer than its depth in
    periods loses the oldest commands, and the arm then takes the next one as a step of several
    periods' worth in one."""
    return qos_reliable(COMMAND_STREAM_DEPTH)


def qos_best_effort(depth: int = 10):
    """Best effort, volatile: a reader that matches reliable and best-effort writers alike."""
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    return QoSProfile(depth=depth, reliability=ReliabilityPolicy.BEST_EFFORT)


def qos_latched():
    """Reliable, transient-local, depth 1: late subscribers get the last state (safety_state, camera pose)."""
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

    return QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)


def qos_sensor():
    """rclpy's sensor-data profile (best effort, shallow): camera streams where the newest frame counts."""
    from rclpy.qos import qos_profile_sensor_data

    return qos_profile_sensor_data
