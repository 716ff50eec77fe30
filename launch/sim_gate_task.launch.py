"""Sim + safety gate + task node + vision: `ros2 launch launch/sim_gate_task.launch.py task:=pick-place`.

The task node arms the gate itself here (`--arm`: simulation only, always on in this file); against
a real arm use real_arm.launch.py, where arming is the operator's explicit step.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

ARGS = {
    "robot": ("", "officina robot: panda, ur5e, iiwa, ... or a YAML path ('' = the profile's: panda for "
                  "default, ur5e for ur, ...)"),
    "profile": ("default", "ROS profile the sim imitates and the gate fronts"),
    "task": ("pick-place", "task to run"),
    "seed": ("0", "scene and procedure seed"),
    "rate_hz": ("250", "control rate [Hz]"),
    "run_task": ("true", "start the task node"),
    "run_vision": ("true", "start the vision node on the sim's camera"),
    "marker_length_m": ("0.05", "side of the markers' black square [m]"),
}


def generate_launch_description():
    lc = LaunchConfiguration
    decl = [DeclareLaunchArgument(k, default_value=v, description=d) for k, (v, d) in ARGS.items()]
    sim = Node(executable="officina-ros-sim", name="officina_sim", output="screen",
               arguments=["--robot", lc("robot"), "--profile", lc("profile"), "--task", lc("task"),
                          "--seed", lc("seed"), "--rate-hz", lc("rate_hz")])
    gate = Node(executable="officina-ros-gate", name="officina_gate", output="screen",
                arguments=["--robot", lc("robot"), "--profile", lc("profile"), "--rate-hz", lc("rate_hz")])
    task = Node(executable="officina-ros-task", name="officina_task", output="screen",
                condition=IfCondition(lc("run_task")),
                arguments=[lc("task"), "--robot", lc("robot"), "--profile", lc("profile"), "--seed", lc("seed"),
                           "--rate-hz", lc("rate_hz"), "--arm"])
    vision = Node(executable="officina-ros-vision", name="officina_vision", output="screen",
                  condition=IfCondition(lc("run_vision")),
                  arguments=["--marker-length-m", lc("marker_length_m"), "--table-height-m", "0.0"])
    return LaunchDescription(decl + [sim, gate, task, vision])
