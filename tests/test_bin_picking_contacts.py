"""bin-picking's collision count: a contact point the simulator reports is a collision only when
the surfaces touch; a near miss inside PyBullet's contact-breaking threshold is not."""

from __future__ import annotations

import pybullet as p

from officina.robots import load_robot
from officina.sim.world import SimWorld
from officina.tasks.bin_picking import BinPicking, BinPickingParams, BinPickingScene

# a Panda grasp near the source bin's y- wall (the tcp 1 cm into a part 9 cm from the wall, the
# approach leaned 20 deg): the hand passes 2.8 mm over the wall's top edge, within the planner's
# padding, which a grasp may come into
Q_NEAR_WALL = [-0.3775, 0.8772, -0.1193, -1.4936, 0.2593, 2.0295, 1.0519]
OPEN_M = 0.0689


def _pose_arm(world, robot, spec, dz: float = 0.0) -> None:
    """The arm at Q_NEAR_WALL, its base ``dz`` lower than where it was loaded."""
    cid = world.client_id
    pos, quat = p.getBasePositionAndOrientation(robot.body_id, physicsClientId=cid)
    p.resetBasePositionAndOrientation(robot.body_id, (pos[0], pos[1], pos[2] + dz), quat, physicsClientId=cid)
    for n, v in zip(spec.joint_names, Q_NEAR_WALL):
        p.resetJointState(robot.body_id, robot.joint_index[n], v, physicsClientId=cid)
    for n in spec.gripper.finger_joints:
        p.resetJointState(robot.body_id, robot.joint_index[n], OPEN_M / 2, physicsClientId=cid)
    p.performCollisionDetection(physicsClientId=cid)


def test_a_near_miss_is_not_a_collision_and_a_touch_is():
    task, params, spec = BinPicking(), BinPickingParams(), load_robot("panda")
    with SimWorld() as world:
        robot = world.load_robot(spec)
        fixtures = world.add_planning_scene(task.planning_scene(params))
        wall = next(f for f in fixtures if f.name == "source_wall_y-")
        scene = BinPickingScene(objects=[], fixtures=fixtures, robot_id=robot.body_id,
                                fixture_ids=tuple(f.body_id for f in fixtures),
                                link_names={i: n for n, i in robot.link_index.items()})
        _pose_arm(world, robot, spec)
        near = [c for c in world.contact_points(robot.body_id) if c.body_b == wall.body_id]
        assert near and min(c.distance_m for c in near) > 0.002  # reported, yet more than 2 mm apart
        task.after_step(world, scene, params, 1.0)
        assert scene.collisions == 0 and scene.collision_periods == 0 and not scene.collision_log
        # the same arm 8 mm lower: the hand is 2.4 mm into the wall
        _pose_arm(world, robot, spec, dz=-0.008)
        task.after_step(world, scene, params, 2.0)
        assert scene.collision_with.get(wall.body_id) == 1
        assert any(e.startswith("panda_hand touches source_wall_y- at 2.000 s") for e in scene.collision_log)
        m = task.metrics(world, scene, params)
        assert m["collisions_with"]["source_wall_y-"] == 1 and m["collisions"] >= 1
