"""`officina ros task pick-place` against the sim, through the gate, in three processes."""

import json

import pytest

pytestmark = [pytest.mark.ros]


@pytest.mark.timeout(300)
def test_pick_place_through_the_gate_across_processes(tmp_path, request):
    pytest.importorskip("rclpy")
    from geometry_msgs.msg import PoseArray

    from officina.ros.testing import NodeProcess, RosClient, domain_id_for
    from officina.tasks.pick_place import PickPlaceParams

    dom = domain_id_for(request.node.name)
    procs = []
    c = None
    try:
        procs.append(NodeProcess(["ros", "sim", "--robot", "panda", "--set", "n_objects=1", "--seed", "1"], dom,
                                 str(tmp_path / "sim.log")))
        task = NodeProcess(["ros", "task", "pick-place", "--robot", "panda", "--set", "n_objects=1", "--arm"],
                           dom, str(tmp_path / "task.log"))
        procs.append(task)
        c = RosClient(dom)
        # The gate last, as `ros2 launch` may order it: the task finds the arm service before the gate
        # has a /joint_states and must retry that refusal instead of giving up.
        c.spin_for(3.0)
        # Watchdog 50 periods (0.2 s): between a capture and the next motion the procedure computes
        # (perception, IK: ~80 ms here) without commanding, which a loaded machine can stretch past
        # the default 0.1 s. A capture waits longer (0.2-0.4 s at the camera's 5 Hz): the task keeps
        # its command stream alive while it waits, so the gate holds the arm only once it has ended.
        procs.insert(1, NodeProcess(["ros", "gate", "--robot", "panda", "--watchdog-periods", "50"], dom,
                                    str(tmp_path / "gate.log")))
        c.collect(PoseArray, "/ground_truth/object_poses")
        c.wait_for(lambda: task.proc.poll() is not None, 280, "the task to finish")
        out = task.output()
        assert task.proc.returncode == 0, out + "\n--- sim\n" + procs[0].output() + "\n--- gate\n" + procs[1].output()
        result = json.loads([ln for ln in out.splitlines() if ln.startswith("{")][-1])
        assert result["completed"] and result["details"]["placements"] == 1
        assert result["gate_refused"] == 0
        assert result["gate_watchdog_holds"] == 0, procs[1].output()  # the gate's count as the task ended
        c.wait_for(lambda: c.received["/ground_truth/object_poses"], 10, "ground truth")
        c.spin_for(0.5)
        p = PickPlaceParams(n_objects=1)
        obj = c.received["/ground_truth/object_poses"][-1].poses[0].position
        assert abs(obj.x - p.bin_center_xy[0]) < p.bin_inner_size_m[0] / 2
        assert abs(obj.y - p.bin_center_xy[1]) < p.bin_inner_size_m[1] / 2
        assert obj.z < p.table_z + p.bin_wall_height_m
        assert procs[0].alive() and procs[1].alive()
    finally:
        if c is not None:
            c.close()
        for pr in procs:
            pr.stop()
