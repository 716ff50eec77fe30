"""A cell for the vacuum gripper's ROS tests: a 4 kg carton on a stand whose top face is 1 mm
below the cup lips of the robot at its home pose (the tcp pointing down)."""

import numpy as np

from officina.controllers.model import RobotModel
from officina.tasks import TaskDefinition, TaskScene

CARTON = (0.30, 0.20, 0.15)


class CartonUnderTheCups(TaskDefinition):
    name = "carton-under-the-cups"
    description = "a carton right under the vacuum gripper at the home pose"

    def build_scene(self, world, params, rng):
        spec = world.robots[0].spec
        T = RobotModel.from_spec(spec).frame_transform(spec.home, "tcp")
        x, y, z = T[:3, 3]
        top = z - 0.001
        stand = world.add_table(top_center_xyz=(x, y, top - CARTON[2]), size_xy=(0.4, 0.4))
        carton = world.add_box(CARTON, 4.0, (x, y, top - CARTON[2] / 2 + 1e-4), name="carton")
        world.step(50)
        return TaskScene(objects=[carton], fixtures=[stand])

    def procedure(self, cell, params):  # pragma: no cover - the ROS tests drive the gripper themselves
        raise NotImplementedError

    def metrics(self, world, scene, params):  # pragma: no cover
        return {"success": True}


def carton_z(world, scene) -> float:
    return float(np.asarray(world.object_pose(scene.objects[0].body_id)[0])[2])
