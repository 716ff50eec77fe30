"""An independent check of planned motions in PyBullet (the simulator, not the planner's own
Pinocchio/coal checker): the robot's URDF and the scene's obstacles as PyBullet bodies."""

from __future__ import annotations

import numpy as np
import pybullet as p

from officina.sim.world import SimWorld


class PyBulletScene:
    def __init__(self, spec, scene, finger_width_m: float | None = None) -> None:
        self.world = SimWorld()
        self.robot = self.world.load_robot(spec)
        self.obstacles = self.world.add_planning_scene(scene)
        self.spec = spec
        cid = self.world.client_id
        if spec.gripper:
            w = spec.gripper.max_width_m if finger_width_m is None else finger_width_m
            for n in spec.gripper.finger_joints:
                p.resetJointState(self.robot.body_id, self.robot.joint_index[n], w / len(spec.gripper.finger_joints),
                                  physicsClientId=cid)

    def set_q(self, q) -> None:
        for n, v in zip(self.spec.joint_names, q):
            p.resetJointState(self.robot.body_id, self.robot.joint_index[n], float(v), physicsClientId=self.world.client_id)

    def min_distance(self, q, max_distance: float = 0.05) -> float:
        """Smallest robot-obstacle distance (m) PyBullet reports within ``max_distance`` (negative:
        penetration); ``max_distance`` when nothing is that close."""
        self.set_q(q)
        cid = self.world.client_id
        p.performCollisionDetection(physicsClientId=cid)
        best = max_distance
        for o in self.obstacles:
            for c in p.getClosestPoints(self.robot.body_id, o.body_id, max_distance, physicsClientId=cid):
                if c[3] == -1 and o.name == "table":
                    continue  # the base stands on the table
                best = min(best, c[8])
        return best

    def min_distance_along(self, qs) -> float:
        return float(min(self.min_distance(q) for q in np.atleast_2d(qs)))

    def close(self) -> None:
        self.world.close()
