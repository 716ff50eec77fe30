"""The exo monitor: `ros2 launch launch/exo_monitor.launch.py body_mass_kg:=82 stature_m:=1.80 exo:=spexor load_kg:=10`.

Subscribes the person's joint angles (sensor_msgs/JointState: ankle, knee, hip, l5s1, shoulder,
elbow in rad, from motion capture or IMUs) and publishes /exo/l5s1/wrench, /exo/l5s1/loads and
/exo/assist_torque. Watch them with `ros2 topic echo /exo/l5s1/loads` or Foxglove.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

ARGS = {
    "body_mass_kg": ("75", "body mass of the person [kg]"),
    "stature_m": ("1.75", "stature of the person [m]"),
    "sex": ("male", "male | female"),
    "load_kg": ("0", "mass held at the hands [kg]"),
    "exo": ("none", "none | passive | active | laevo | spexor | plad | xotrunk"),
    "joint_states_topic": ("/human/joint_states", "the person's joint angles"),
    "rate_hz": ("50", "processing rate [Hz]"),
}


def generate_launch_description():
    lc = LaunchConfiguration
    decl = [DeclareLaunchArgument(k, default_value=v, description=d) for k, (v, d) in ARGS.items()]
    exo = Node(executable="officina-ros-exo", name="officina_exo", output="screen",
               arguments=["--body-mass-kg", lc("body_mass_kg"), "--stature-m", lc("stature_m"), "--sex", lc("sex"),
                          "--load-kg", lc("load_kg"), "--exo", lc("exo"),
                          "--joint-states-topic", lc("joint_states_topic"), "--rate-hz", lc("rate_hz")])
    return LaunchDescription(decl + [exo])
