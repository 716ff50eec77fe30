"""A small cell for the state log's tests: a table, a bin, a box, a cylinder and a sphere, a fixed
camera; the procedure moves the arm, closes the gripper part way, takes one picture and goes home."""

from __future__ import annotations

import numpy as np

from officina.controllers.planning.scene import Obstacle, PlanningScene, Sphere
from officina.controllers.skills import Skills
from officina.tasks import ProcedureOutcome, StrictParams, TaskDefinition, TaskScene


class ReplayParams(StrictParams):
    move_rad: float = 0.3


class ReplayCheck(TaskDefinition):
    name = "replay-check"
    description = "Move, grip part way, take a picture (the state log's test cell)."
    Params = ReplayParams

    def build_scene(self, world, params, rng):
        fixtures = [world.add_table(), world.add_bin((0.45, -0.35, 0.0), name="bin")]
        fixtures += world.add_planning_scene(PlanningScene([Obstacle("ball", Sphere(0.03), (0.2, 0.4, 0.03))]))
        objects = [world.add_box((0.04, 0.05, 0.06), 0.2, (0.5, 0.2, 0.03), name="box"),
                   world.add_cylinder(0.025, 0.08, 0.2, (0.6, 0.0, 0.04), name="can")]
        return TaskScene(fixtures=fixtures, objects=objects)

    def make_camera(self, world, params):
        from officina.interfaces import CameraIntrinsics
        from officina.sim.camera import SimCamera, look_at

        return SimCamera(world.client_id, CameraIntrinsics.from_fov(320, 240, 60.0),
                         look_at((0.5, 0.0, 1.0), (0.5, 0.0, 0.0), up=(-1.0, 0.0, 0.0)), stamp_fn=lambda: world.time)

    def procedure(self, cell, params):
        sk = Skills(cell.arm, cell.gripper, cell.model, cell.tick, rng=cell.rng, velocity_scale=0.8)
        home = np.asarray(cell.model.spec.home, float)
        q1 = home + params.move_rad * np.sign(cell.model.limits.mid() - home + 1e-9)
        sk.move_joints(q1)
        cell.log_event(None, "moved", target=[round(float(v), 3) for v in q1])
        cell.gripper.close(0.03)
        for _ in range(300):
            cell.arm.command_positions(sk.q_command)
            cell.tick()
        cell.camera.capture()
        cell.log_event(None, "picture")
        sk.move_joints(home)
        return ProcedureOutcome(True)

    def metrics(self, world, scene, params):
        return {"success": True}
