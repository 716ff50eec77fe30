"""The sim's cell without ROS (`officina.ros.fake_hardware`): built as a run builds it, the task's
scene motion every period, states read through SimArm and SimGripper."""

from dataclasses import dataclass, field

import numpy as np
import pytest

from officina.robots import load_robot
from officina.ros.fake_hardware import FakeHardware, SimSetup
from officina.ros.robot_profiles import load_profile, resolve_profile
from officina.tasks import TaskDefinition, TaskScene


@dataclass
class _Scene(TaskScene):
    starts: list = field(default_factory=list)


class _Moving(TaskDefinition):
    name = "moving"
    description = "a scene with motion of its own"

    def build_scene(self, world, params, rng):
        return _Scene(fixtures=[world.add_table()])

    def before_step(self, world, scene, params, t):
        scene.starts.append(round(t, 9))


@pytest.fixture
def panda():
    return resolve_profile(load_robot("panda"), load_profile("default"))


def test_the_task_scene_motion_runs_every_period_with_its_start_time(panda):
    hw = FakeHardware(panda, SimSetup(rate_hz=250.0, task=_Moving()))
    try:
        assert hw.world.time == 0.0  # the clock starts at zero once the scene is built
        for _ in range(3):
            hw.step()
        assert hw.scene.starts == [0.0, 0.004, 0.008]
    finally:
        hw.close()


def test_the_scene_motion_runs_on_the_clock_in_use_across_a_slip_of_the_real_time_grid(panda):
    """In real-time pacing the grid moves ``t0`` when the loop falls behind (the physics does not
    run those periods): the scene's clock counts the slip, as a machine's timer counts wall time
    and as the procedure reads it on /joint_states' stamps."""
    hw = FakeHardware(panda, SimSetup(rate_hz=250.0, task=_Moving()))
    try:
        hw.t0 = 1000.0  # the stamp of world.time 0 in real-time pacing
        hw.step()
        hw.t0 += 0.5  # a slip of half a second
        hw.step()
        hw.step()
        assert hw.scene.starts == [0.0, 0.504, 0.508]
        assert hw.now == pytest.approx(1000.5 + 3 * 0.004)
    finally:
        hw.close()


def test_robot_only_cell_and_states_read_through_the_interfaces(panda):
    hw = FakeHardware(panda, SimSetup(rate_hz=500.0))
    try:
        assert hw.scene is None and hw.camera is None and hw.object_poses().shape == (0, 7)
        q = hw.follower.desired[0] + np.r_[0, 0, 0, 0, 0, 0, 0.1]
        hw.forward_command(q)
        for _ in range(1000):
            hw.step()
        st = hw.joint_state()
        assert st.names == tuple(panda.joint_names) + tuple(panda.finger_joints)
        np.testing.assert_allclose(st.position[:7], hw.arm.read().position)
        np.testing.assert_allclose(st.position[7:], hw.gripper.finger_state().position)
        assert abs(st.position[6] - q[6]) < 0.005  # the arm reached the command
        assert st.stamp == pytest.approx(1000 * 0.002)
    finally:
        hw.close()


def test_forward_commands_that_arrive_together_run_one_per_period(panda):
    """A burst of forward commands (a busy process delivered them at once) moves the arm one
    command per period, in order; a gripper command behind them takes effect after them."""
    hw = FakeHardware(panda, SimSetup(rate_hz=500.0))
    try:
        q0 = hw.follower.desired[0].copy()
        burst = [q0 + 0.001 * (i + 1) for i in range(4)]
        for q in burst:
            hw.forward_command(q)
        hw.gripper_command([0.0, 20.0])  # close, sent after the last position
        for q in burst:
            assert hw.gripper.grasp_state().name == "OPEN"
            hw.step()
            np.testing.assert_allclose(hw.follower.desired[0], q)
        hw.step()  # the gripper command was behind the last position: the period after it
        assert hw.gripper.grasp_state().name != "OPEN"
        np.testing.assert_allclose(hw.follower.desired[0], burst[-1])  # held
    finally:
        hw.close()


def test_a_backlog_over_the_limit_is_thinned_not_stepped_over(panda):
    """More than MAX_PENDING_COMMANDS forward commands waiting (a stalled process delivered a
    backlog): the commands that give way are spread over the stream, so the arm catches up by at
    most one more period's worth in a period instead of jumping over the oldest at once (in
    contact, such a jump is a force spike); the newest command is still reached."""
    from officina.ros.fake_hardware import MAX_PENDING_COMMANDS

    hw = FakeHardware(panda, SimSetup(rate_hz=500.0))
    try:
        q0 = hw.follower.desired[0].copy()
        step = 0.001
        n = MAX_PENDING_COMMANDS + 5
        for i in range(1, n + 1):
            hw.forward_command(q0 + step * i)
        held = [q0, hw.follower.desired[0].copy()]  # before the backlog, and once it has arrived
        for _ in range(MAX_PENDING_COMMANDS + 1):
            hw.step()
            held.append(hw.follower.desired[0].copy())
        jumps = [float(np.max(np.abs(b - a))) for a, b in zip(held, held[1:])]
        assert max(jumps) <= 2 * step + 1e-12, jumps  # dropping the 5 oldest: a jump of 5 steps
        np.testing.assert_allclose(held[-1], q0 + step * n)  # the newest reached, one per period
        # the controller state tells how many gave way (none while an admittance was on)
        assert hw.counts["commands_thinned"] == n - MAX_PENDING_COMMANDS
        assert hw.counts["commands_thinned_with_admittance"] == 0
    finally:
        hw.close()


def test_rates_that_do_not_divide_are_one_line(panda):
    from officina.errors import BadInput

    with pytest.raises(BadInput, match="rate_hz/sim_dt: .*whole multiple"):
        FakeHardware(panda, SimSetup(rate_hz=300.0, sim_dt=0.001))


def test_vacuum_gripper_commands_and_switch_without_fingers():
    """ur10e: /joint_states has the arm's joints only (no fingers); [0, force] switches the vacuum
    on, the switch reads held once the carton under the cups is sucked on; [width] vents it."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent / "data"))
    from vacuum_cell import CartonUnderTheCups

    ur = resolve_profile(load_robot("ur10e"), load_profile("ur10e"))
    assert ur.finger_joints == () and ur.vacuum_topic == "/gripper_controller/vacuum_switch"
    hw = FakeHardware(ur, SimSetup(rate_hz=250.0, task=CartonUnderTheCups()))
    try:
        assert hw.vacuum and hw.state_names == tuple(ur.joint_names)
        assert len(hw.joint_state().position) == 6 and hw.vacuum_holding() is False
        hw.gripper_command([0.0, 300.0])
        for _ in range(50):  # 0.2 s
            hw.step()
        assert hw.vacuum_holding() is True and hw.gripper.suction_force_n() > 250.0
        hw.gripper_command([0.17])
        hw.step()
        assert hw.vacuum_holding() is False and hw.gripper.suction_force_n() == 0.0
    finally:
        hw.close()
