"""A lab's own task, defined outside officina's tree: the test of the task protocol's public API.

`touch-point`: drive the tcp to a point above the table, hold it there, and come back home.
Success when the tcp came within 2 mm of the point, measured every control period from the
simulator (ground truth, `after_step`), never from what the procedure believes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import Field

from officina.controllers.skills import Skills
from officina.tasks import MetricInfo, ProcedureOutcome, StrictParams, TaskDefinition, TaskScene


class TouchParams(StrictParams):
    point_xyz: tuple[float, float, float] = (0.45, 0.1, 0.25)
    hold_s: float = Field(0.2, ge=0.0, le=2.0)


@dataclass
class TouchScene(TaskScene):
    closest_m: float = float("inf")


class TouchPoint(TaskDefinition):
    name = "touch-point"
    description = "Drive the tcp to a point above the table and back (an out-of-tree example)."
    Params = TouchParams
    metric_info = {"closest_mm": MetricInfo("mm", "closest approach of the tcp to the point", "lower")}
    key_metrics = ("closest_mm",)
    plot_events = ("reached",)

    def build_scene(self, world, params, rng):
        return TouchScene(fixtures=[world.add_table()])

    def after_step(self, world, scene, params, t):
        d = float(np.linalg.norm(world.tcp_position(world.robots[0]) - np.asarray(params.point_xyz)))
        scene.closest_m = min(scene.closest_m, d)

    def procedure(self, cell, params):
        sk = Skills(cell.arm, cell.gripper, cell.model, cell.tick, rng=cell.rng, velocity_scale=0.5)
        T = cell.model.frame_transform(cell.model.spec.home, "tcp")
        T[:3, 3] = params.point_xyz
        r = sk.move_to_pose(T)
        if not r.ok:
            return ProcedureOutcome(False, r.message)
        cell.log_event(None, "reached")
        for _ in range(int(round(params.hold_s / cell.arm.control_period))):
            cell.arm.command_positions(sk.q_command)
            cell.tick()
            pos = cell.model.frame_transform(cell.arm.read().position, "tcp")[:3, 3]
            cell.log_signal("distance_mm", 1e3 * float(np.linalg.norm(pos - np.asarray(params.point_xyz))))
        sk.move_joints(cell.model.spec.home)
        return ProcedureOutcome(True)

    def metrics(self, world, scene, params):
        return {"success": scene.closest_m < 0.002, "closest_mm": 1e3 * scene.closest_m}
