"""The QoS profiles officina's nodes use, chosen per kind of data."""

from __future__ import annotations

__all__ = ["qos_reliable", "qos_best_effort", "qos_latched", "qos_sensor"]


def qos_reliable(depth: int = 10):
    """Reliable, volatile: commands, joint states, trajectories (nothing may be dropped)."""
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    return QoSProfile(depth=depth, reliability=ReliabilityPolicy.RELIABLE)


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
