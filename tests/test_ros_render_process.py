"""The sim camera rendered in a forked copy of the world (`officina.ros.render_process`): the
frame it returns is the frame the world itself renders, for the state at the request (the arm
moved, a part moved and recoloured), while the caller's loop goes on."""

import numpy as np
import pytest


@pytest.mark.timeout(120)
def test_the_forked_camera_renders_what_the_world_shows():
    pytest.importorskip("pybullet")
    from officina.robots import load_robot
    from officina.ros.render_process import CameraProcess
    from officina.tasks import get_task
    from officina.tasks.runtime import build_sim_cell

    task = get_task("pick-place")
    params = task.Params(n_objects=2)
    cell = build_sim_cell(task, params, load_robot("panda"), rng=np.random.default_rng(0), control_dt=0.004)
    cam = CameraProcess(cell.world.client_id, cell.camera)
    try:
        assert cam.request(1.5) and not cam.request(1.6)  # one frame at a time
        import time

        t_end = time.monotonic() + 60
        got = None
        while got is None and time.monotonic() < t_end:
            got = cam.poll()
            time.sleep(0.01)
        assert got is not None and got[0] == 1.5
        first = got[1]
        np.testing.assert_array_equal(first, cell.camera.capture().rgb)
        # the world changes: the arm, a part's pose and colour; the fork has only its old copy
        q = np.asarray(cell.model.spec.home, float) + 0.3
        cell.arm.command_positions(q)
        cell.world.step(200)
        body = cell.scene.objects[0].body_id
        cell.world.set_object_pose(body, (0.5, 0.0, 0.05))
        cell.world.set_object_color(body, (1.0, 0.0, 1.0, 1.0))
        own = cell.camera.capture()
        assert np.count_nonzero(np.any(own.rgb != first, axis=2)) > 500  # the change is in view
        assert cam.request(2.0)
        got = None
        while got is None and time.monotonic() < t_end:
            got = cam.poll()
            time.sleep(0.01)
        assert got is not None and got[0] == 2.0
        np.testing.assert_array_equal(got[1], own.rgb)
        np.testing.assert_array_equal(got[2], own.depth_m)
        assert cam.restarts == 0 and cam.alive()
    finally:
        cam.close()
        cell.close()
    assert not cam.alive()
