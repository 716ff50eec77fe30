"""Gate + task against a real arm's ros2_control driver (started separately, e.g. ur_robot_driver):

    ros2 launch launch/real_arm.launch.py profile:=ur robot:=ur5e velocity_scale:=0.25 \\
        workspace_min:=0.2,-0.6,0.0 workspace_max:=0.8,0.6,0.6

Nothing moves until the operator arms the gate:
    ros2 service call /officina/arm std_srvs/srv/SetBool "{data: true}"
E-stop (software; the robot's own protective stop stays in charge):
    ros2 topic pub --once /officina/estop std_msgs/msg/Bool "{data: true}"
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

ARGS = {
    "robot": ("", "officina robot: model and limits of the real arm ('' = the profile's: ur5e for ur, "
                  "panda for fr3, iiwa for kuka, ...)"),
    "profile": ("ur", "ROS profile of the driver: ur, fr3, abb, kuka, default or a YAML path"),
    "controller": ("", "trajectory controller name ('' = the profile's)"),
    "namespace": ("", "namespace of the driver's topics"),
    "rate_hz": ("250", "command stream rate [Hz]"),
    "velocity_scale": ("0.25", "reduced speed for the first runs (0, 1]"),
    "acceleration_scale": ("0.25", "reduced acceleration (0, 1]"),
    "workspace_min": ("", "tcp box around the table, lower corner 'x,y,z' [m, robot base frame] ('' = no box)"),
    "workspace_max": ("", "tcp box, upper corner 'x,y,z' [m, robot base frame]"),
    "task": ("pick-place", "task to run"),
    "run_task": ("false", "start the task node (it waits for the operator to arm the gate)"),
    "run_vision": ("false", "start the vision node on the camera topics below"),
    "image_topic": ("/camera/color/image_raw", "camera image (e.g. realsense2_camera)"),
    "camera_info_topic": ("/camera/color/camera_info", "camera intrinsics"),
    "depth_topic": ("/camera/aligned_depth_to_color/image_raw",
                    "depth aligned to the image ('' = none for the vision node; the task needs depth and reads "
                    "the profile's CAMERA/depth/image_raw then)"),
    "camera_pose_topic": ("/camera/pose", "latched PoseStamped of the camera in the robot base frame, "
                                          "read by the task when camera_pose_file is ''"),
    "camera_pose_file": ("", "the fixed camera's hand-eye result (officina vision handeye --mode "
                             "eye-to-hand --out FILE), read by the task instead of the pose topic"),
    "marker_length_m": ("0.05", "side of the markers' black square [m]"),
}


def generate_launch_description():
    lc = LaunchConfiguration
    decl = [DeclareLaunchArgument(k, default_value=v, description=d) for k, (v, d) in ARGS.items()]
    gate = Node(executable="officina-ros-gate", name="officina_gate", output="screen",
                arguments=["--robot", lc("robot"), "--profile", lc("profile"), "--controller", lc("controller"),
                           "--namespace", lc("namespace"), "--rate-hz", lc("rate_hz"),
                           "--velocity-scale", lc("velocity_scale"),
                           "--acceleration-scale", lc("acceleration_scale"),
                           "--workspace-min", lc("workspace_min"), "--workspace-max", lc("workspace_max")])
    task = Node(executable="officina-ros-task", name="officina_task", output="screen",
                condition=IfCondition(lc("run_task")),
                arguments=[lc("task"), "--robot", lc("robot"), "--profile", lc("profile"),
                           "--namespace", lc("namespace"), "--rate-hz", lc("rate_hz"), "--image-topic", lc("image_topic"),
                           "--depth-topic", lc("depth_topic"), "--camera-info-topic", lc("camera_info_topic"),
                           "--camera-pose-topic", lc("camera_pose_topic"),
                           "--camera-pose-file", lc("camera_pose_file")])
    vision = Node(executable="officina-ros-vision", name="officina_vision", output="screen",
                  condition=IfCondition(lc("run_vision")),
                  arguments=["--image-topic", lc("image_topic"), "--camera-info-topic", lc("camera_info_topic"),
                             "--depth-topic", lc("depth_topic"), "--marker-length-m", lc("marker_length_m")])
    return LaunchDescription(decl + [gate, task, vision])
