"""Simulated people, the safety laser scanner, and the separation monitor's geometry."""

import math

import numpy as np
import pytest

from officina.controllers.ssm import (
    SeparationMonitor, SpeedScaler, SsmParams, StopModel, planar_separation, point_separation_xy, robot_points,
)
from officina.sim.people import PersonPath, ScannerSpec, SimLaserScanner, SimPerson, random_paths, separation_by_link


def test_person_path_walks_and_dwells():
    path = PersonPath(((0.0, 0.0), (2.0, 0.0), (2.0, 3.0)), (1.0, 1.5), (0.5, 1.0, 0.0), start_s=1.0)
    assert path.duration_s == pytest.approx(0.5 + 2.0 + 1.0 + 2.0)
    xy, v = path.at(0.5)  # before the start: at the first waypoint, standing
    assert np.allclose(xy, (0, 0)) and np.allclose(v, 0)
    xy, v = path.at(1.0 + 0.5 + 1.0)  # 1 s into the first leg
    assert np.allclose(xy, (1.0, 0.0)) and np.allclose(v, (1.0, 0.0))
    xy, v = path.at(1.0 + 0.5 + 2.0 + 0.5)  # dwelling at the second waypoint
    assert np.allclose(xy, (2.0, 0.0)) and np.allclose(v, 0)
    xy, v = path.at(1.0 + 0.5 + 2.0 + 1.0 + 1.0)  # 1 s into the second leg at 1.5 m/s
    assert np.allclose(xy, (2.0, 1.5)) and np.allclose(v, (0.0, 1.5))
    assert np.allclose(path.at(100.0)[0], (2.0, 3.0))
    with pytest.raises(ValueError):
        PersonPath(((0.0, 0.0), (1.0, 0.0)), (0.0,), (0.0, 0.0))


def _at_from_waypoints(path, t):
    """`PersonPath.at` evaluated from the waypoints alone, leg by leg."""
    w = np.asarray(path.waypoints, float)
    tau = t - path.start_s
    if tau <= 0:
        return w[0], np.zeros(2)
    for i in range(len(w) - 1):
        if tau < path.dwell_s[i]:
            return w[i], np.zeros(2)
        tau -= path.dwell_s[i]
        leg = w[i + 1] - w[i]
        length = float(np.linalg.norm(leg))
        dur = length / path.speeds_m_s[i]
        if tau < dur:
            u = leg / max(length, 1e-12)
            return w[i] + u * path.speeds_m_s[i] * tau, u * path.speeds_m_s[i]
        tau -= dur
    return w[-1], np.zeros(2)


def test_person_path_at_equals_the_leg_by_leg_evaluation():
    rng = np.random.default_rng(7)
    paths = random_paths(rng, 9) + [PersonPath(((1.0, 1.0), (1.0, 1.0), (2.0, 1.0)), (1.0, 0.5), (0.0, 0.3, 0.0))]
    for path in paths:
        for t in np.r_[rng.uniform(-1.0, path.start_s + path.duration_s + 1.0, 200), path.start_s]:
            xy, v = path.at(float(t))
            xy_ref, v_ref = _at_from_waypoints(path, float(t))
            assert xy.tolist() == xy_ref.tolist() and v.tolist() == v_ref.tolist()
        # what `at` returns is the caller's: changing it changes nothing of the path
        xy, v = path.at(path.start_s + 0.5)
        xy += 1.0
        v += 1.0
        assert path.at(path.start_s + 0.5)[0].tolist() == _at_from_waypoints(path, path.start_s + 0.5)[0].tolist()


def test_random_paths_are_seeded_enter_and_leave_and_approach_at_walking_speed():
    a = random_paths(np.random.default_rng(3), 6)
    b = random_paths(np.random.default_rng(3), 6)
    assert a == b
    kinds = [p.kind for p in a]
    assert kinds.count("approach") == 2 and kinds.count("pass") == 2
    for p in a:
        w = np.asarray(p.waypoints)
        assert np.linalg.norm(w[0]) >= 4.9 and np.linalg.norm(w[-1]) >= 4.9  # from and to outside
        if p.kind == "approach":
            assert p.speeds_m_s[0] == 1.6
            # straight at the robot: the stop point lies on the line from the start to the base
            u0, u1 = w[0] / np.linalg.norm(w[0]), w[1] / np.linalg.norm(w[1])
            assert np.dot(u0, u1) == pytest.approx(1.0)
        # people stop before the table (its footprint inflated by the body radius + 5 cm)
        for pt in w:
            assert not (-0.55 + 1e-9 < pt[0] < 1.25 - 1e-9 and -0.85 + 1e-9 < pt[1] < 0.85 - 1e-9)


@pytest.fixture
def world():
    from officina.sim.world import SimWorld

    w = SimWorld()
    yield w
    w.close()


def test_scanner_sees_a_person_with_its_resolution_latency_and_noise(world):
    person = SimPerson.create(world, "p0", PersonPath(((-2.0, 0.0), (-3.0, 0.0)), (1.0,), (0.0, 0.0), start_s=99),
                              floor_z=-0.9)
    spec = ScannerSpec((-0.12, 0.0, -0.6), yaw_rad=math.pi, noise_m=0.01)
    sc = SimLaserScanner(world, spec, np.random.default_rng(0))
    assert len(sc.angles) == math.floor(spec.fov_rad / spec.resolution_rad) + 1 == 706
    sc.update(0.0)
    assert sc.latest() is None  # the first scan is not out yet
    sc.update(0.059)
    assert sc.latest() is None
    sc.update(0.06)
    t_scan, pts = sc.latest()
    assert t_scan == 0.0
    # the hits lie on the body's surface (radius 0.2 m around (-2, 0)), within the noise
    r = np.linalg.norm(pts - np.array([-2.0, 0.0]), axis=1)
    assert len(pts) >= 10 and np.all(np.abs(r - 0.2) < 0.05)
    # the nearest hit from the scanner: 2 - 0.12 - 0.2 = 1.68 m
    assert np.min(np.linalg.norm(pts - np.array([-0.12, 0.0]), axis=1)) == pytest.approx(1.68, abs=0.04)
    # the person moves: the next scans see it where it went, not where it was
    person.path = PersonPath(((-1.0, 0.0), (-3.0, 0.0)), (1.0,), (0.0, 0.0), start_s=99)
    person.move_to(0.0)
    sc.update(0.2)
    _, pts = sc.latest()
    assert np.min(np.linalg.norm(pts - np.array([-0.12, 0.0]), axis=1)) == pytest.approx(0.68, abs=0.04)


def test_ground_truth_separation_and_monitor_geometry(world):
    from officina.controllers.model import RobotModel
    from officina.robots import load_robot

    spec = load_robot("panda")
    robot = world.load_robot(spec)
    person = SimPerson.create(world, "p0", PersonPath(((-1.5, 0.0), (-3.0, 0.0)), (1.0,), (0.0, 0.0), start_s=99),
                              floor_z=-0.9)
    world.step(1)
    links, d, v = separation_by_link(world, person, robot)
    assert len(links) == len(d) == len(v) > 5 and -1 in links  # every link, the base too
    d_min = float(d.min())
    assert 0.9 < d_min < 1.5 and np.all(v < 1e-3)  # an arm at rest
    # a person beyond the query distance: nothing returned
    assert len(separation_by_link(world, person, robot, 0.5)[0]) == 0
    model = RobotModel.from_spec(spec)
    q, qd = world.joint_state(robot)
    P, V = robot_points(model, q, qd)
    assert np.allclose(P[0], 0) and np.allclose(P[-1], model.frame_transform(q, "tcp")[:3, 3])
    assert np.allclose(V, 0, atol=1e-3)
    # the monitor's planar distance (hits on the body's near side) is never above the truth
    hits = np.array([[-1.3, 0.0], [-1.35, 0.1]])
    d_mon = planar_separation(hits, P, 0.1)
    assert d_mon <= d_min + 1e-9
    # a moving joint makes the chain points move
    _, V = robot_points(model, q, np.r_[1.0, np.zeros(6)])
    assert np.linalg.norm(V, axis=1).max() > 0.3


def test_planar_separation_hand_worked():
    chain = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.5], [1.0, 1.0, 0.5]])
    assert planar_separation(np.array([[0.5, -2.0]]), chain) == pytest.approx(2.0)
    assert planar_separation(np.array([[2.0, 2.0]]), chain, 0.1) == pytest.approx(math.sqrt(2) - 0.1)
    assert planar_separation(np.zeros((0, 2)), chain) == math.inf


def test_point_separation_xy_equals_planar_separation_of_one_point():
    rng = np.random.default_rng(11)
    for k in range(2000):
        chain = rng.normal(0.0, 0.6, (int(rng.integers(2, 11)), 3))
        if k % 3 == 0:
            chain[1, :2] = chain[0, :2]  # a vertical link: a segment of zero length in the plane
        xy = rng.uniform(-5.0, 5.0, 2)
        radius = float(rng.uniform(0.0, 0.6))
        expected = planar_separation(xy[None, :], chain, radius)
        assert point_separation_xy(float(xy[0]), float(xy[1]), chain[:, :2].tolist(), radius) == expected
    chain = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]]
    assert point_separation_xy(2.0, 2.0, chain, 0.1) == pytest.approx(math.sqrt(2) - 0.1)


def test_robot_points_velocities_are_the_derivatives_of_the_points():
    from officina.controllers.model import RobotModel
    from officina.robots import load_robot

    rng = np.random.default_rng(5)
    for name in ("panda", "ur5e"):
        model = RobotModel.from_spec(load_robot(name))
        n = len(model.spec.joint_names)
        q, qd = rng.uniform(-1.0, 1.0, n), rng.uniform(-1.0, 1.0, n)
        P, V = robot_points(model, q, qd)
        assert P.shape == V.shape == (n + 2, 3)  # the base, every joint, the tcp
        assert np.allclose(P[-1], model.frame_transform(q, "tcp")[:3, 3])
        h = 1e-6
        Pp, _ = robot_points(model, q + h * qd, qd)
        Pm, _ = robot_points(model, q - h * qd, qd)
        assert np.allclose((Pp - Pm) / (2 * h), V, atol=1e-6)


def test_monitor_holds_the_robot_until_the_sensor_reports():
    from officina.controllers.model import RobotModel
    from officina.robots import load_robot

    spec = load_robot("panda")
    model = RobotModel.from_spec(spec)
    params = SsmParams(StopModel(0.0, 3.4), 0.2, intrusion_m=1.08, sensor_uncertainty_m=0.1)
    mon = SeparationMonitor(model, SpeedScaler(params, 1.0))
    q = spec.home
    assert mon.update(0.0, None, q, np.zeros(7)) == 0.0 and mon.scaler.stops == 0
    assert mon.update(0.01, np.zeros((0, 2)), q, np.zeros(7)) == 1.0  # nobody seen
    assert mon.update(0.02, np.array([[-0.8, 0.0]]), q, np.zeros(7)) == 0.0  # too close: stop
    assert mon.scaler.stops == 1 and mon.last["separation_m"] < 0.8


def test_ground_truth_speed_is_of_the_closest_point_where_the_step_left_the_arm(world):
    """The speed of a link's closest point takes the link's centre of mass where the last step
    left it, as the closest point and the link's velocities are: against PyBullet's cached
    centre of mass, from the start of the step, the lever arm would be a step of motion off."""
    import pybullet as p

    from officina.robots import load_robot

    robot = world.load_robot(load_robot("panda"))
    person = SimPerson.create(world, "p0", PersonPath(((-1.0, 0.0), (-3.0, 0.0)), (1.0,), (0.0, 0.0), start_s=99),
                              floor_z=-0.9)
    cid, body = world.client_id, robot.body_id
    p.setJointMotorControlArray(body, list(range(7)), p.VELOCITY_CONTROL, targetVelocities=[2.0] * 7,
                                forces=[500.0] * 7, physicsClientId=cid)
    world.step(40)
    links, _, v = separation_by_link(world, person, robot)
    pts = p.getClosestPoints(person.body_id, body, 10.0, physicsClientId=cid)
    moving = [k for k in links if k >= 0]
    for k in moving:
        c = min((c for c in pts if c[4] == k), key=lambda c: c[8])
        s = p.getLinkState(body, k, computeLinkVelocity=1, computeForwardKinematics=1, physicsClientId=cid)
        want = np.asarray(s[6]) + np.cross(s[7], np.subtract(c[6], s[0]))
        assert v[list(links).index(k)] == pytest.approx(float(np.linalg.norm(want)), rel=0, abs=1e-9)
