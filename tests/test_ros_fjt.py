"""FollowJointTrajectory goal semantics without ROS: tolerances from a goal, and the monitor that
ends a goal (joint_trajectory_controller's rules)."""

from types import SimpleNamespace as NS

import numpy as np
import pytest

from officina.ros.fjt import ErrorCode, GoalMonitor, Tolerances, tolerances_from_goal

JOINTS = ["j1", "j2", "j3"]


def tol(name, position=0.0, velocity=0.0, acceleration=0.0):
    return NS(name=name, position=position, velocity=velocity, acceleration=acceleration)


def goal(path=(), goal_tol=(), gtt=0.0):
    sec = int(gtt)
    return NS(path_tolerance=list(path), goal_tolerance=list(goal_tol),
              goal_time_tolerance=NS(sec=sec, nanosec=int(round((gtt - sec) * 1e9))))


def test_defaults_check_only_the_stopped_velocity():
    d = Tolerances.defaults(3)
    assert np.all(d.goal_velocity == 0.01) and np.all(d.goal_position == 0) and np.all(d.path_position == 0)
    assert d.goal_time == 0.0


def test_goal_tolerances_zero_keeps_default_minus_one_erases_positive_sets():
    d = Tolerances.defaults(3, stopped_velocity_tolerance=0.02, goal_time=1.0)
    t = tolerances_from_goal(goal(path=[tol("j2", position=0.1)],
                                  goal_tol=[tol("j1", position=0.005, velocity=0.0), tol("j3", velocity=-1)],
                                  gtt=0.5), JOINTS, d)
    assert t.path_position.tolist() == [0.0, 0.1, 0.0]
    assert t.goal_position.tolist() == [0.005, 0.0, 0.0]
    assert t.goal_velocity.tolist() == [0.02, 0.02, 0.0]  # 0 keeps the default, -1 erases it
    assert t.goal_time == 0.5
    assert tolerances_from_goal(goal(), JOINTS, d).goal_time == 1.0  # 0 keeps the controller's default


def test_unknown_joint_in_a_tolerance_is_refused():
    with pytest.raises(ValueError, match="unknown joint 'elbow'"):
        tolerances_from_goal(goal(goal_tol=[tol("elbow", position=0.1)]), JOINTS, Tolerances.defaults(3))


def desired(q):
    z = np.zeros(3)
    return np.asarray(q, float), z, z


def test_path_tolerance_violation_aborts_before_the_end():
    t = tolerances_from_goal(goal(path=[tol("j1", position=0.05)]), JOINTS, Tolerances.defaults(3))
    m = GoalMonitor(end_time=2.0, tolerances=t, joints=JOINTS)
    assert m.update(1.0, desired([0.5, 0, 0]), [0.46, 0.3, 0], np.zeros(3)) is None  # j2 unchecked
    out = m.update(1.1, desired([0.5, 0, 0]), [0.44, 0, 0], np.zeros(3))
    assert out.status == "aborted" and out.error_code == ErrorCode.PATH_TOLERANCE_VIOLATED
    assert "j1 position" in out.error_string


def test_goal_succeeds_when_stopped_after_the_end():
    m = GoalMonitor(end_time=2.0, tolerances=Tolerances.defaults(3), joints=JOINTS)
    assert m.update(2.0, desired([1, 1, 1]), [1, 1, 1], [0.0, 0.05, 0.0]) is None  # still moving: wait
    out = m.update(2.1, desired([1, 1, 1]), [1.01, 1, 1], [0.0, 0.005, 0.0])
    assert out.status == "succeeded" and out.error_code == ErrorCode.SUCCESSFUL


def test_goal_tolerance_with_time_limit_aborts_late():
    t = tolerances_from_goal(goal(goal_tol=[tol("j3", position=0.01)], gtt=0.2), JOINTS, Tolerances.defaults(3))
    m = GoalMonitor(end_time=1.0, tolerances=t, joints=JOINTS)
    assert m.update(1.1, desired([0, 0, 1]), [0, 0, 0.9], np.zeros(3)) is None  # within goal_time: wait
    out = m.update(1.25, desired([0, 0, 1]), [0, 0, 0.9], np.zeros(3))
    assert out.status == "aborted" and out.error_code == ErrorCode.GOAL_TOLERANCE_VIOLATED
    assert "j3 position" in out.error_string


def test_without_goal_time_the_goal_waits():
    t = tolerances_from_goal(goal(goal_tol=[tol("j3", position=0.01)]), JOINTS, Tolerances.defaults(3))
    m = GoalMonitor(end_time=1.0, tolerances=t, joints=JOINTS)
    assert m.update(100.0, desired([0, 0, 1]), [0, 0, 0.9], np.zeros(3)) is None


def test_a_sim_goal_that_raises_is_aborted_and_logged_not_raised():
    """Whatever goes wrong inside a goal ends it aborted: under rclpy 9.1.2's EventsExecutor (the
    sim's) a task that raises kills the process with SIGSEGV."""
    import asyncio

    from officina.ros.fjt import FollowJointTrajectoryServer

    srv = object.__new__(FollowJointTrajectoryServer)  # no ROS: only what _execute touches
    logged = []
    srv.node = NS(get_logger=lambda: NS(error=logged.append))
    srv._FJT = NS(Result=lambda: NS(error_code=0, error_string=""))
    srv.active = {"handle": None}

    async def boom(goal_handle):
        raise RuntimeError("boom")

    srv._run_goal = boom
    aborted = []
    res = asyncio.run(srv._execute(NS(abort=lambda: aborted.append(True))))
    assert res.error_code == int(ErrorCode.INVALID_GOAL) and "boom" in res.error_string
    assert aborted and srv.active is None and "boom" in logged[0]


def test_gate_relay_does_not_send_on_a_goal_accepted_before_an_estop():
    """rclpy runs an accepted goal's execute callback as a task of its own, after the goal
    callback; an e-stop (or a disarm) handled in between must keep the goal from the controller."""
    import asyncio

    from officina.ros.fjt import GateActionRelay

    def relay():
        r = object.__new__(GateActionRelay)  # no ROS: only what _on_goal and _execute touch
        sent = []

        async def send_goal_async(request, feedback_callback=None):
            sent.append(request)
            return NS(accepted=False)

        r.node, r.joints, r.downstream = None, JOINTS, "/ctrl/follow_joint_trajectory"
        r.check, r.refuse = (lambda traj: None), (lambda why: None)
        r._FJT = NS(Result=lambda: NS(error_code=0, error_string=""))
        r._GoalResponse = NS(ACCEPT="accept", REJECT="reject")
        r.client = NS(server_is_ready=lambda: True, send_goal_async=send_goal_async)
        r.active, r.counts = None, {"goals_forwarded": 0, "goals_refused": 0}
        r._stops, r._last_stop, r._accepted = 0, "", {}
        return r, sent

    pytest.importorskip("action_msgs")
    for estop_between in (False, True):
        r, sent = relay()
        g = goal()
        g.trajectory = NS()
        assert r._on_goal(g) == "accept"
        if estop_between:
            r.stop("e-stop")
        aborted = []
        res = asyncio.run(r._execute(NS(request=g, abort=lambda: aborted.append(True))))
        if estop_between:
            assert sent == [] and aborted and "e-stop" in res.error_string
        else:
            assert sent == [g]  # (the fake controller rejects it)


def test_gate_relay_commands_the_hold_again_after_a_stopped_goal_ends_at_the_controller():
    """A goal on its way to the controller when an e-stop comes: the gate commands its hold at
    once, and the controller's acceptance arrives after it (the controller took the goal after
    the hold, which it replaces). The relay cancels the goal and, once it has ended at the
    controller, has the gate command its hold again, last. A goal the client cancels, or one
    preempted by the client's next goal, ends without it."""
    import asyncio

    from action_msgs.msg import GoalStatus

    from officina.ros.fjt import GateActionRelay

    async def scenario(stop_while_sending, client_cancels=False):
        events = []
        accept = asyncio.get_running_loop().create_future()
        result = asyncio.get_running_loop().create_future()

        def cancel_goal_async():
            events.append("cancel")
            if not result.done():
                result.set_result(NS(status=GoalStatus.STATUS_CANCELED, result=NS(error_code=0, error_string="")))

        async def get_result_async():
            out = await result
            events.append("goal ended")
            return out

        down = NS(accepted=True, cancel_goal_async=cancel_goal_async, get_result_async=get_result_async)

        async def send_goal_async(request, feedback_callback=None):
            events.append("goal sent")
            await accept
            events.append("accepted")
            return down

        r = object.__new__(GateActionRelay)  # no ROS: only what _on_goal, _execute and stop touch
        r.node, r.joints, r.downstream = None, JOINTS, "/ctrl/follow_joint_trajectory"
        r.check, r.refuse, r.hold = (lambda traj: None), (lambda why: None), (lambda: events.append("hold"))
        r._FJT = NS(Result=lambda: NS(error_code=0, error_string=""))
        r._GoalResponse, r._CancelResponse = NS(ACCEPT="accept", REJECT="reject"), NS(ACCEPT="accept")
        r.client = NS(server_is_ready=lambda: True, send_goal_async=send_goal_async)
        r.active, r.counts = None, {"goals_forwarded": 0, "goals_refused": 0}
        r._stops, r._last_stop, r._accepted = 0, "", {}
        g = goal()
        g.trajectory = NS()
        assert r._on_goal(g) == "accept"
        up = NS(request=g, is_cancel_requested=False, abort=lambda: events.append("client aborted"),
                succeed=lambda: events.append("client succeeded"), canceled=lambda: events.append("client canceled"),
                publish_feedback=lambda fb: None)
        task = asyncio.ensure_future(r._execute(up))
        await asyncio.sleep(0)
        assert events == ["goal sent"]
        if stop_while_sending:
            r.stop("e-stop")  # the gate commands its hold now (GateNode._on_estop)
            events.append("e-stop hold")
        accept.set_result(None)
        await asyncio.sleep(0)
        if not stop_while_sending:
            if client_cancels:
                up.is_cancel_requested = True
                r._on_cancel(up)
            else:
                r.stop("e-stop")
                events.append("e-stop hold")
        res = await task
        return events, res

    events, res = asyncio.run(scenario(stop_while_sending=True))
    assert events == ["goal sent", "e-stop hold", "accepted", "cancel", "goal ended", "hold", "client aborted"]
    assert "e-stop" in res.error_string
    events, _ = asyncio.run(scenario(stop_while_sending=False))  # accepted before the stop: the same, last
    assert events[-3:] == ["goal ended", "hold", "client aborted"] and events.index("cancel") < events.index("hold")
    events, _ = asyncio.run(scenario(stop_while_sending=False, client_cancels=True))
    assert "hold" not in events and events[-1] == "client canceled"
