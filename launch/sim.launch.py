"""The PyBullet fake-hardware sim alone: `ros2 launch launch/sim.launch.py robot:=panda pacing:=realtime`.

officina's nodes are console scripts on PATH (pip install officina into the RoboStack env);
no ROS package is needed (`Node(executable=...)` without `package`).
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

ARGS = {
    "robot": ("", "officina robot: panda, ur5e, iiwa, ... or a YAML path ('' = the profile's: panda for "
                  "default, ur5e for ur, ...)"),
    "profile": ("default", "ROS profile: default, ur, fr3, abb, kuka or a YAML path"),
    "pacing": ("realtime", "realtime | fast | lockstep"),
    "rate_hz": ("250", "control and /joint_states rate [Hz]"),
    "task": ("pick-place", "scene to build ('none': robot only)"),
    "seed": ("0", "scene seed"),
}


def generate_launch_description():
    decl = [DeclareLaunchArgument(k, default_value=v, description=d) for k, (v, d) in ARGS.items()]
    sim = Node(
        executable="officina-ros-sim",
        name="officina_sim",
        output="screen",
        arguments=["--robot", LaunchConfiguration("robot"), "--profile", LaunchConfiguration("profile"),
                   "--pacing", LaunchConfiguration("pacing"), "--rate-hz", LaunchConfiguration("rate_hz"),
                   "--task", LaunchConfiguration("task"), "--seed", LaunchConfiguration("seed")],
    )
    return LaunchDescription(decl + [sim])
