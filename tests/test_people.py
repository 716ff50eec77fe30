"""Simulated people, the safety laser scanner, and the separation monitor's geometry."""

import math

import numpy as np
import pytest

from officina.controllers.ssm import (
    SeparationMonitor, SpeedScaler, SsmParams, StopModel, planar_separation, robot_points,
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
