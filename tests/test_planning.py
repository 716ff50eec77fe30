"""Collision-aware motion: the scene format, the collision checker, the planner, the skills, the CLI.

Every returned trajectory is checked independently in PyBullet (tests/planning_check.py) at
every control sample."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from officina.controllers.model import RobotModel, pose_to_T
from officina.controllers.planning.collision import CollisionChecker
from officina.controllers.planning.planner import MotionPlanner, PlannerSettings, PlanStatus, plan_motion
from officina.controllers.planning.scene import Box, Obstacle, PlanningScene, load_scene, parse_scene
from officina.robots import load_robot
from planning_check import PyBulletScene

SCENE = """\
obstacles:
  - {name: table, box: [1.2, 1.6, 0.04], xyz: [0.35, 0.0, -0.02]}
  - {name: post, cylinder: {radius: 0.04, length: 0.8}, xyz: [0.6, 0.3, 0.4], quat_xyzw: [0, 0, 0, 1]}
  - {name: lamp, sphere: 0.06, xyz: [0.4, -0.4, 0.7]}
"""
HOME = {
    "panda": [0.0, -0.785398, 0.0, -2.356194, 0.0, 1.570796, 0.785398],
}
DT = 0.002


@pytest.fixture(scope="module")
def panda():
    spec = load_robot("panda")
    return spec, RobotModel.from_spec(spec)


def wall_scene() -> PlanningScene:
    """A table and a wall between the two sides of the Panda's workspace (in front of it)."""
    return PlanningScene([
        Obstacle("table", Box((1.2, 1.6, 0.04)), (0.35, 0.0, -0.02)),
        Obstacle("wall", Box((0.4, 0.02, 0.5)), (0.5, 0.0, 0.25)),
    ])


Q_LEFT = np.array([0.75, 0.35, 0.0, -2.0, 0.0, 2.35, 0.785])
Q_RIGHT = np.array([-0.75, 0.35, 0.0, -2.0, 0.0, 2.35, 0.785])


# --- the scene file ---------------------------------------------------------------------------------
def test_scene_file_parses(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text(SCENE)
    s = load_scene(f)
    assert [o.name for o in s.obstacles] == ["table", "post", "lamp"]
    assert s.get("table").shape.size == (1.2, 1.6, 0.04)
    assert s.get("post").shape.radius == 0.04 and s.get("post").shape.length == 0.8
    assert np.allclose(s.get("lamp").pose[:3, 3], [0.4, -0.4, 0.7])
    assert parse_scene(s.to_dict()).to_dict() == s.to_dict()


@pytest.mark.parametrize("text, message", [
    ("obstacles:\n  - {name: a, box: [1, 1, 1], xyz: [0, 0, 0], colour: red}\n", "obstacles.0.colour: Extra inputs"),
    ("obstacles:\n  - {name: a, xyz: [0, 0, 0]}\n", "exactly one of box, cylinder, sphere, mesh"),
    ("obstacles:\n  - {name: a, box: [1, 1], xyz: [0, 0, 0]}\n", "obstacles.0.box"),
    ("obstacles:\n  - {name: a, cylinder: {radius: 0.1}, xyz: [0, 0, 0]}\n", "obstacles.0.cylinder.length"),
    ("obstacles:\n  - {name: a, sphere: -1, xyz: [0, 0, 0]}\n", "obstacles.0.sphere"),
    ("obstacles:\n  - {name: a, sphere: 1, xyz: [0, 0, 0]}\n  - {name: a, sphere: 1, xyz: [1, 0, 0]}\n",
     "already in the planning scene"),
    ("obstacle: []\n", "obstacle: Extra inputs"),
    ("obstacles: [\n", "not valid YAML"),
])
def test_scene_file_errors_are_one_line_naming_the_key(tmp_path, text, message):
    f = tmp_path / "s.yaml"
    f.write_text(text)
    with pytest.raises(ValueError) as e:
        load_scene(f)
    assert message in str(e.value) and "\n" not in str(e.value)


# --- collision checking -------------------------------------------------------------------------------
def test_a_checker_handed_another_scene_checks_that_scene(panda):
    """Two scenes built alike, one with the wall and one with a post elsewhere, once edited the
    same number of times: a checker first given the one and then the other sees the other's
    obstacles (scene versions are never shared between scenes)."""
    spec, model = panda
    q_mid = np.array([0.0, 0.35, 0.0, -2.0, 0.0, 2.35, 0.785])  # the hand in the wall
    walled = wall_scene()
    open_scene = PlanningScene([Obstacle("table", Box((1.2, 1.6, 0.04)), (0.35, 0.0, -0.02)),
                                Obstacle("post", Box((0.05, 0.05, 0.5)), (-0.5, 0.6, 0.25))])
    ch = CollisionChecker(model, open_scene)
    assert ch.is_valid(q_mid)
    ch.scene = walled
    assert not ch.is_valid(q_mid)
    ch.scene = walled.copy()
    walled.remove("wall")  # the copy keeps its wall
    assert not ch.is_valid(q_mid)


def test_checker_names_what_touches(panda):
    spec, model = panda
    ch = CollisionChecker(model, wall_scene())
    assert ch.is_valid(Q_LEFT) and ch.is_valid(Q_RIGHT)
    q_mid = np.array([0.0, 0.35, 0.0, -2.0, 0.0, 2.35, 0.785])  # the hand in the wall
    assert not ch.is_valid(q_mid)
    touching = {c.b for c in ch.contacts(q_mid)}
    assert "obstacle:wall" in touching
    d, pair = ch.clearance(Q_LEFT)
    pb = PyBulletScene(spec, wall_scene())
    try:
        assert d == pytest.approx(pb.min_distance(Q_LEFT, 1.0), abs=3e-3)  # convex hulls in both
    finally:
        pb.close()


def test_padding_margin(panda):
    _, model = panda
    s = PlanningScene([Obstacle("block", Box((0.1, 0.1, 0.1)), (0.0, 0.0, 0.0))])
    ch = CollisionChecker(model, s, padding_m=0.0)
    q = np.array(HOME["panda"])
    tcp = model.frame_transform(q, "tcp")[:3, 3]
    # the block a few cm under the fingertips
    s.replace(Obstacle("block", Box((0.1, 0.1, 0.1)), tuple(tcp + [0, 0, -0.09])))
    d2, pair = ch.clearance(q)
    assert 0.0 < d2 < 0.1 and pair.b == "obstacle:block"
    assert ch.is_valid(q)
    assert not CollisionChecker(model, s, padding_m=d2 + 0.005).is_valid(q)
    assert CollisionChecker(model, s, padding_m=max(0.0, d2 - 0.005)).is_valid(q)


def test_attached_object_is_checked_against_the_scene_not_the_fingers(panda):
    _, model = panda
    scene = PlanningScene([Obstacle("table", Box((1.2, 1.6, 0.04)), (0.35, 0.0, -0.02))])
    ch = CollisionChecker(model, scene)
    q = np.array(HOME["panda"])
    tcp_z = model.frame_transform(q, "tcp")[2, 3]
    # a part held between the fingers (overlapping them): still valid
    scene.attach("part", Box((0.05, 0.05, 0.06)), np.eye(4))
    assert ch.is_valid(q)
    # a long part that reaches the table from the tcp: in collision, named
    T = np.eye(4)
    T[2, 3] = tcp_z / 2
    scene.attach("part", Box((0.04, 0.04, tcp_z + 0.01)), T)
    assert not ch.is_valid(q)
    assert any(c.a == "attached:part" and c.b == "obstacle:table" for c in ch.contacts(q))
    scene.detach("part")
    assert ch.is_valid(q)


def test_a_new_gripper_width_reuses_the_loaded_meshes(panda, monkeypatch):
    """Following the gripper to a width not seen yet rebuilds the reduced model only: the URDF's
    meshes and their convex hulls are loaded once; the verdicts are those of the geometry loaded
    afresh at that width."""
    import pinocchio as pin

    from officina.controllers.planning import collision

    spec, m = panda
    scene = wall_scene()
    checker = CollisionChecker(m, scene, padding_m=0.005)
    configs = np.random.default_rng(4).uniform(spec.limits.lower, spec.limits.upper, size=(40, spec.dof))
    width = 0.0317  # no other test closes the fingers there
    fresh_rg = collision._RobotGeometry(spec, round(width, 3))

    def no_loading(*a, **k):
        raise AssertionError("the meshes were loaded again")

    monkeypatch.setattr(pin, "buildGeomFromUrdf", no_loading)
    checker.gripper_width_m = width
    verdicts = [checker.is_valid(q) for q in configs]
    monkeypatch.undo()
    assert [go.placement.homogeneous.tolist() for go in checker._rg.gm.geometryObjects] == \
        [go.placement.homogeneous.tolist() for go in fresh_rg.gm.geometryObjects]
    collision._URDF_CACHE.clear()
    collision._GEOMETRY_CACHE.clear()
    fresh = CollisionChecker(m, scene, padding_m=0.005)
    fresh.gripper_width_m = width
    assert verdicts == [fresh.is_valid(q) for q in configs]
    assert not all(verdicts) and any(verdicts)


def test_an_edited_scene_is_checked_as_a_fresh_checker_checks_it(panda):
    """A checker follows its scene through edits (an obstacle added, moved under the same name,
    removed and put back, an object attached and detached, the fingers closed): at each step its
    verdicts, contacts, clearance and pairs are those of a checker built afresh on that scene."""
    spec, model = panda
    scene = wall_scene()
    ch = CollisionChecker(model, scene, padding_m=0.005)
    configs = np.random.default_rng(7).uniform(spec.limits.lower, spec.limits.upper, size=(30, spec.dof))
    q_home = np.array(HOME["panda"])
    tcp = model.frame_transform(q_home, "tcp")[:3, 3]
    block = Obstacle("block", Box((0.1, 0.1, 0.1)), (0.0, 0.6, 0.3))
    steps = [
        lambda: scene.add(block),
        lambda: scene.replace(Obstacle("block", Box((0.1, 0.1, 0.1)), tuple(tcp + [0.0, 0.0, -0.08]))),
        lambda: scene.remove("block"),
        lambda: scene.add(block),
        lambda: scene.attach("part", Box((0.04, 0.04, 0.3)), pose_to_T([0.0, 0.0, 0.1], [0, 0, 0, 1])),
        lambda: setattr(ch, "gripper_width_m", 0.03),
        lambda: scene.detach("part"),
        lambda: scene.remove("wall"),
    ]
    verdicts = set()
    for step in steps:
        step()
        fresh = CollisionChecker(model, scene.copy(), padding_m=0.005)
        fresh.gripper_width_m = ch.gripper_width_m
        for q in [q_home, *configs]:
            assert ch.is_valid(q) == fresh.is_valid(q)
            assert ch.contacts(q) == fresh.contacts(q)
            verdicts.add(ch.is_valid(q))
        assert ch.clearance(q_home) == fresh.clearance(q_home)
        assert ch._pair_ids == [(cp.first, cp.second) for cp in ch._gm.collisionPairs] == fresh._pair_ids
        assert np.array_equal(ch._pair_weights, fresh._pair_weights)
    assert verdicts == {True, False}


def _hulls(gm) -> list:
    """Each geometry object's name, placement and hull points (every field the checks read)."""
    out = []
    for go in gm.geometryObjects:
        g = go.geometry
        out.append((go.name, go.placement.homogeneous.tolist(), np.asarray(g.points()).tolist(),
                    np.asarray(g.normals()).tolist(), np.asarray(g.offsets()).tolist(),
                    [list(g.neighbors(i)) for i in range(g.num_points)]))
    return out


def test_collision_geometry_is_kept_on_disk_and_follows_the_meshes(panda, tmp_path, monkeypatch):
    """The convex hulls of a URDF's meshes are computed once and read back from a file, field for
    field as computed; a changed mesh file is computed afresh, and so is a damaged file."""
    import shutil

    import pinocchio as pin

    from officina.controllers.planning import collision

    spec, _ = panda
    src = Path(spec.urdf).parent
    robot_dir = tmp_path / "robot"
    shutil.copytree(src / "meshes" / "collision", robot_dir / "meshes" / "collision")
    shutil.copy(spec.urdf, robot_dir / "panda.urdf")
    urdf = str(robot_dir / "panda.urdf")
    monkeypatch.setenv("OFFICINA_CACHE", str(tmp_path / "cache"))
    full = pin.buildModelFromUrdf(urdf)
    computed = _hulls(collision._collision_geometry(full, urdf))
    kept = list((tmp_path / "cache" / "collision").iterdir())
    assert len(kept) == 1

    def no_loading(*a, **k):
        raise AssertionError("the meshes were loaded again")

    with monkeypatch.context() as m:
        m.setattr(pin, "buildGeomFromUrdf", no_loading)
        assert _hulls(collision._collision_geometry(full, urdf)) == computed
    kept[0].write_bytes(kept[0].read_bytes()[:100])  # damaged
    assert _hulls(collision._collision_geometry(full, urdf)) == computed
    # the fingers twice as large: a new hull
    finger = robot_dir / "meshes" / "collision" / "finger.obj"
    finger.write_text("\n".join(" ".join(["v"] + [repr(2 * float(x)) for x in ln.split()[1:]])
                                if ln.startswith("v ") else ln for ln in finger.read_text().splitlines()))
    bigger = _hulls(collision._collision_geometry(full, urdf))
    i = next(k for k, h in enumerate(computed) if h[0] == "panda_leftfinger_0")
    assert np.allclose(bigger[i][2], 2 * np.asarray(computed[i][2]))
    assert len(list((tmp_path / "cache" / "collision").iterdir())) == 2


def test_disabled_pairs_filter_adjacent_and_never(panda):
    spec, _ = panda
    from officina.controllers.planning.collision import compute_disabled_pairs

    rows = compute_disabled_pairs(spec, samples=300)
    reasons = {frozenset(r[:2]): r[2] for r in rows}
    assert reasons[frozenset(("panda_link0", "panda_link1"))] == "Adjacent"
    assert reasons[frozenset(("panda_hand", "panda_link7"))] == "Adjacent"  # across link8 (no geometry)
    assert frozenset(("panda_link1", "panda_hand")) not in reasons  # these can meet
    assert spec.srdf and spec.srdf.endswith("panda.srdf")


def test_broadphase_checks_agree_with_every_pair_checked(panda):
    """is_valid (a broadphase in front of coal, margins set per pair) against checking every
    pair with pinocchio's plain computeCollisions, attached object included."""
    _, model = panda
    scene = wall_scene()
    scene.attach("part", Box((0.04, 0.04, 0.12)), pose_to_T([0.0, 0.0, 0.05], [0, 0, 0, 1]))
    ch = CollisionChecker(model, scene)
    rng = np.random.default_rng(4)
    lim = model.spec.limits
    n_free = 0
    for q in rng.uniform(lim.lower, lim.upper, (300, 7)):
        for extra in (0.0, 0.03, -0.01):
            assert ch.is_valid(q, extra) == (not ch.contacts(q, extra))
        n_free += ch.is_valid(q)
    assert 30 < n_free < 270  # both answers are exercised


# Two configurations whose straight segment passes the fingers over the table, closest mid-way.
Q_PASS_A = np.array([0.868, 0.546, 0.081, -1.952, 0.174, 3.024, 1.04])
Q_PASS_B = np.array([0.868, 0.309, 0.16, -2.16, 0.242, 1.818, 1.073])


def test_segment_proof_is_tight_to_its_resolution(panda):
    """A segment whose closest approach (the fingers to the table) lies mid-way is proved with a
    padding 0.3 mm below that distance, and refused with one 0.3 mm above it."""
    _, model = panda
    ch = CollisionChecker(model, wall_scene(), padding_m=0.0)
    s = np.linspace(0.0, 1.0, 2001)
    d = np.array([ch.clearance(Q_PASS_A + t * (Q_PASS_B - Q_PASS_A))[0] for t in s])
    assert 0.2 < s[np.argmin(d)] < 0.8 and d[0] - d.min() > 0.02  # the closest point is mid-way
    d_min = float(d.min())
    path = np.array([Q_PASS_A, Q_PASS_B])
    ok = CollisionChecker(model, wall_scene(), padding_m=d_min - 3e-4).check_path(path, 1e-4)
    assert ok.ok
    bad = CollisionChecker(model, wall_scene(), padding_m=d_min + 3e-4).check_path(path, 1e-4)
    assert not bad.ok and any(c.b == "obstacle:table" for c in bad.contacts)


def test_checking_both_classes_at_once_changes_no_proof(panda, monkeypatch):
    """A segment's midpoint checked for the robot-scene and the self-collision pairs at once
    gives every segment the verdict, failing place, contacts and count of configurations checked
    that the two classes checked apart give, relaxed ends included; both answers of the joint
    check (and of the proofs) are exercised."""
    spec, model = panda
    scene = wall_scene()
    scene.attach("part", Box((0.04, 0.04, 0.12)), pose_to_T([0.0, 0.0, 0.05], [0, 0, 0, 1]))
    ch = CollisionChecker(model, scene, padding_m=0.01)
    rng = np.random.default_rng(11)
    lim = spec.limits
    cases = []
    for q0 in rng.uniform(lim.lower, lim.upper, (120, 7)):
        q1 = np.clip(q0 + rng.normal(0.0, rng.choice([0.01, 0.05, 0.3]), 7), lim.lower, lim.upper)
        cases.append((q0, q1, [q0] if rng.random() < 0.3 else []))
    joint_answers = []
    original = CollisionChecker._proves_both_classes

    def watched(self, seg, relaxed):
        joint_answers.append(original(self, seg, relaxed))
        return joint_answers[-1]

    def run():
        out = []
        for q0, q1, relax in cases:
            n0 = ch.n_checks
            r = ch.check_polyline(np.array([q0, q1]), 1e-4, relax=relax)
            out.append((r, ch.n_checks - n0))
        return out

    monkeypatch.setattr(CollisionChecker, "_proves_both_classes", watched)
    at_once = run()
    monkeypatch.setattr(CollisionChecker, "_proves_both_classes", lambda self, seg, relaxed: False)
    apart = run()
    assert at_once == apart
    assert {True, False} <= set(joint_answers)
    assert {r.ok for r, _ in at_once} == {True, False}


def test_proved_segments_keep_the_padding_when_sampled_densely(panda):
    """Every segment the proof accepts keeps the padding at 400 configurations along it, by
    coal's distances and by PyBullet's (the simulator's convex hulls, 3 mm apart at most)."""
    spec, model = panda
    scene = wall_scene()
    pad = 0.01
    ch = CollisionChecker(model, scene, padding_m=pad)
    rng = np.random.default_rng(7)
    lim = spec.limits
    valid = [q for q in rng.uniform(lim.lower, lim.upper, (400, 7)) if ch.is_valid(q)]
    pb = PyBulletScene(spec, scene)
    proved = 0
    try:
        for q0, q1 in zip(valid[0::2], valid[1::2]):
            q1 = q0 + 0.4 * (q1 - q0)  # shorter segments: more of them are free
            if not ch.segment_valid(q0, q1, 1e-4):
                continue
            proved += 1
            qs = q0 + np.linspace(0.0, 1.0, 400)[:, None] * (q1 - q0)
            assert min(float(ch._distances(q).min()) for q in qs[::4]) >= 0.0  # self pairs too
            assert ch.min_clearance_along(qs, 1e-4)[0] >= pad - 2e-4
            assert pb.min_distance_along(qs[::4]) > pad - 3e-3
            if proved == 8:
                break
    finally:
        pb.close()
    assert proved == 8


# --- planning -----------------------------------------------------------------------------------------
def _assert_good(spec, scene, r, q0, q1):
    assert r.success, r.message
    traj = r.trajectory
    assert np.allclose(r.path[0], q0) and np.allclose(traj.q[-1], q1, atol=1e-6)
    lim = spec.limits
    assert np.all(traj.q >= lim.lower - 1e-9) and np.all(traj.q <= lim.upper + 1e-9)
    assert np.all(np.abs(traj.qd) <= lim.velocity * 1.0001)
    pb = PyBulletScene(spec, scene)
    try:
        assert pb.min_distance_along(np.vstack([q0, traj.q])) > 0.0
    finally:
        pb.close()


def test_plan_goes_around_the_wall_and_pybullet_agrees(panda):
    spec, model = panda
    scene = wall_scene()
    pl = MotionPlanner(model, CollisionChecker(model, scene), DT)
    assert not pl.segment_free(Q_LEFT, Q_RIGHT)
    r = pl.plan(Q_LEFT, Q_RIGHT, seed=3)
    assert not r.direct and len(r.path) >= 3
    _assert_good(spec, scene, r, Q_LEFT, Q_RIGHT)
    for phase in ("direct", "setup", "solve", "simplify", "timing", "final"):
        assert 0.0 <= r.stats[phase + "_s"] <= r.planning_time_s
        assert r.stats[phase + "_cpu_s"] >= 0.0
    assert r.stats["solve_checks"] > 0 and r.stats["final_checks"] > 0


def test_sampled_segment_check_proves_nothing(panda):
    """`segment_sampled` checks configurations at most the spacing apart: through the wall it
    fails at a fine spacing and passes at one longer than the whole motion (only the ends,
    which it does not check, would be left); the proof refuses the segment."""
    _, model = panda
    ch = CollisionChecker(model, wall_scene())
    bound = ch.displacement_bound(Q_LEFT, Q_RIGHT)
    assert ch.is_valid(Q_LEFT) and ch.is_valid(Q_RIGHT)
    n0 = ch.n_checks
    assert not ch.segment_sampled(Q_LEFT, Q_RIGHT, 0.05)
    assert ch.n_checks - n0 <= 3  # the midpoint first: the wall is in the middle
    n0 = ch.n_checks
    assert ch.segment_sampled(Q_LEFT, Q_RIGHT, 1.01 * bound) and ch.n_checks == n0
    assert not ch.segment_valid(Q_LEFT, Q_RIGHT, 1e-4)


@pytest.mark.parametrize("spacing", [0.0, 0.7, 100.0])
def test_every_returned_path_is_proved_however_lazy_the_search(panda, spacing):
    """A search that samples no configuration between an edge's ends (spacing 100 m) goes
    through the wall; the final proof refuses those segments and they are planned again until
    the trajectory is proved: PyBullet agrees it is free. A proving search (spacing 0) needs no
    repair. Same seed, same trajectory."""
    spec, model = panda
    scene = wall_scene()
    settings = PlannerSettings(lazy_spacing_m=spacing)
    r = MotionPlanner(model, CollisionChecker(model, scene), DT, settings).plan(Q_LEFT, Q_RIGHT, seed=3)
    _assert_good(spec, scene, r, Q_LEFT, Q_RIGHT)
    if spacing == 0.0:
        assert r.stats["repairs"] == 0
    if spacing == 100.0:
        assert r.stats["repairs"] >= 1 and r.stats["repair_checks"] > 0
    again = MotionPlanner(model, CollisionChecker(model, scene), DT, settings).plan(Q_LEFT, Q_RIGHT, seed=3)
    assert np.array_equal(r.path, again.path) and np.array_equal(r.trajectory.q, again.trajectory.q)


def test_benchmark_says_which_goals_are_not_met():
    from officina.benchmarks.bench_plan import goals

    def scene(ok, base_ok, med, cpu, speed, speed_cpu):
        return {"ours": {"success_rate": ok, "median_ms": med, "cpu": {"median_ms": cpu}},
                "baseline": {"success_rate": base_ok}, "speedup_median": speed,
                "speedup_median_cpu": speed_cpu, "both_solved": 20}

    res = {"robots": {"panda": {"shelf": scene(1.0, 0.95, 31.0, 9.0, 12.0, 15.0),
                                "bin": scene(0.98, 0.9, 12.0, 8.0, 4.0, 6.0)}}}
    lines = goals(res)
    bad = [x for x in lines if x.startswith("NOT met")]
    assert len(lines) == 8 and len(bad) == 3
    assert any("panda/bin: success 98 %" in x for x in bad)
    assert any("panda/bin: 4.0x wall" in x for x in bad)
    assert any("panda/shelf: median 31.0 ms wall" in x for x in bad)


def test_timed_trajectory_stays_on_the_checked_segments(panda):
    """Each segment of the path is timed as one path coordinate: every sample lies on the
    straight segment between two waypoints (what was checked), within the joint limits."""
    spec, model = panda
    pl = MotionPlanner(model, CollisionChecker(model, wall_scene()), DT)
    r = pl.plan(Q_LEFT, Q_RIGHT, seed=3)
    assert r.success and len(r.path) >= 3
    traj, ends = pl._timed(r.path)
    assert np.array_equal(traj.q, r.trajectory.q)
    start = 0
    for k, end in enumerate(ends):
        a, b = r.path[k], r.path[k + 1]
        seg = traj.q[start:end + 1]
        s = (seg - a) @ (b - a) / ((b - a) @ (b - a))
        assert np.max(np.abs(seg - (a + s[:, None] * (b - a)))) < 1e-9
        assert np.all(np.diff(s) >= -1e-12) and abs(s[-1] - 1.0) < 1e-12
        start = end + 1
    lim = spec.limits
    assert np.all(np.abs(traj.qd) <= lim.velocity * (1 + 1e-6))
    assert np.all(np.abs(traj.qdd) <= lim.acceleration * (1 + 1e-6))


def test_direct_when_free(panda):
    spec, model = panda
    scene = PlanningScene([Obstacle("table", Box((1.2, 1.6, 0.04)), (0.35, 0.0, -0.02))])
    r = MotionPlanner(model, CollisionChecker(model, scene), DT).plan(HOME["panda"], Q_LEFT)
    assert r.direct and len(r.path) == 2
    _assert_good(spec, scene, r, np.array(HOME["panda"]), Q_LEFT)


def test_same_seed_same_trajectory(panda):
    _, model = panda
    pl = MotionPlanner(model, CollisionChecker(model, wall_scene()), DT)
    a = pl.plan(Q_LEFT, Q_RIGHT, seed=11)
    pl.plan(Q_RIGHT, Q_LEFT, seed=5)  # OMPL's generators move on in between
    b = MotionPlanner(model, CollisionChecker(model, wall_scene()), DT).plan(Q_LEFT, Q_RIGHT, seed=11)
    assert a.success and b.success
    assert np.array_equal(a.path, b.path) and np.array_equal(a.trajectory.q, b.trajectory.q)
    c = pl.plan(Q_LEFT, Q_RIGHT, seed=12)
    assert not np.array_equal(a.path, c.path)


def test_plan_to_pose(panda):
    spec, model = panda
    scene = wall_scene()
    pl = MotionPlanner(model, CollisionChecker(model, scene), DT)
    T = model.frame_transform(Q_RIGHT, "tcp")
    r = pl.plan_to_pose(Q_LEFT, T, "tcp", seed=0)
    assert r.success, r.message
    Te = model.frame_transform(r.trajectory.q[-1], "tcp")
    assert np.allclose(Te[:3, 3], T[:3, 3], atol=1e-4)
    _assert_good(spec, scene, r, Q_LEFT, r.trajectory.q[-1])


def test_start_goal_errors(panda):
    _, model = panda
    pl = MotionPlanner(model, CollisionChecker(model, wall_scene()), DT)
    q_in_wall = np.array([0.0, 0.35, 0.0, -2.0, 0.0, 2.35, 0.785])
    r = pl.plan(q_in_wall, Q_LEFT)
    assert r.status == PlanStatus.START_IN_COLLISION and "touches obstacle:wall" in r.message
    r = pl.plan(Q_LEFT, q_in_wall)
    assert r.status == PlanStatus.GOAL_IN_COLLISION and "obstacle:wall" in r.message
    q_out = Q_LEFT.copy()
    q_out[3] = 0.5
    r = pl.plan(q_out, Q_RIGHT)
    assert r.status == PlanStatus.OUT_OF_LIMITS and "panda_joint4" in r.message
    r = pl.plan_to_pose(Q_LEFT, pose_to_T([2.0, 0.0, 0.3], [1, 0, 0, 0]), "tcp")
    assert r.status == PlanStatus.UNREACHABLE and "unreachable" in r.message
    T = model.frame_transform(q_in_wall, "tcp")
    r = pl.plan_to_pose(Q_LEFT, T, "tcp")
    assert r.status == PlanStatus.GOAL_IN_COLLISION


def test_no_plan_within_budget(panda):
    _, model = panda
    pl = MotionPlanner(model, CollisionChecker(model, wall_scene()), DT, PlannerSettings(time_budget_s=1e-6))
    r = pl.plan(Q_LEFT, Q_RIGHT)
    assert r.status == PlanStatus.NO_PLAN and not r.status.bad_input


# --- skills -------------------------------------------------------------------------------------------
class _KinematicArm:
    """An arm that is where it is told to be (the tests look at what was commanded)."""

    def __init__(self, spec, q0) -> None:
        self.spec = spec
        self.q = np.array(q0, float)
        self.commands: list[np.ndarray] = []

    @property
    def joint_names(self):
        return self.spec.joint_names

    @property
    def control_period(self) -> float:
        return DT

    def read(self):
        from officina.interfaces import JointState

        n = len(self.q)
        return JointState(0.0, self.spec.joint_names, self.q.copy(), np.zeros(n), np.zeros(n))

    def command_positions(self, q, qd=None) -> None:
        self.q = np.array(q, float)
        self.commands.append(self.q.copy())

    def fault(self):
        return None


def test_skill_moves_around_an_obstacle_on_the_straight_path(panda):
    from officina.controllers.skills import Skills, SkillStatus

    spec, model = panda
    scene = PlanningScene([Obstacle("table", Box((1.2, 1.6, 0.04)), (0.35, 0.0, -0.02))])
    arm = _KinematicArm(spec, Q_LEFT)
    sk = Skills(arm, None, model, lambda: None, rng=np.random.default_rng(0), velocity_scale=1.0,
                planning_scene=scene)
    # free: the direct path
    assert sk.move_joints(Q_RIGHT).ok
    direct = np.array(arm.commands)
    # a wall appears on the straight path: the skill goes around it
    scene.add(Obstacle("wall", Box((0.4, 0.02, 0.5)), (0.5, 0.0, 0.25)))
    arm.commands.clear()
    r = sk.move_joints(Q_LEFT)
    assert r.ok, r.message
    went = np.array(arm.commands)
    assert np.allclose(went[-1], Q_LEFT)
    assert len(went) > len(direct)  # longer than the straight move
    pb = PyBulletScene(spec, scene)
    try:
        assert pb.min_distance_along(went) > 0.0
        # the straight line would have hit the wall
        assert pb.min_distance_along(np.linspace(Q_RIGHT, Q_LEFT, 50)) < 0.0
    finally:
        pb.close()
    # a straight tcp line through the wall is refused, with the reason, and nothing moves
    arm.commands.clear()
    T = model.frame_transform(Q_RIGHT, "tcp")
    r = sk.move_line(T, speed_m_s=0.5)
    assert r.status == SkillStatus.COLLISION and "obstacle:wall" in r.message and not arm.commands


# --- CLI ----------------------------------------------------------------------------------------------
def _scene_file(tmp_path):
    f = tmp_path / "cell.yaml"
    f.write_text("obstacles:\n  - {name: table, box: [1.2, 1.6, 0.04], xyz: [0.35, 0.0, -0.02]}\n"
                 "  - {name: wall, box: [0.4, 0.02, 0.5], xyz: [0.5, 0.0, 0.25]}\n")
    return f


def _q(q):
    return ",".join(f"{v:.6f}" for v in q)


def test_cli_plan_json(tmp_path, cli):
    f = _scene_file(tmp_path)
    r = cli(["plan", "--robot", "panda", "--scene", f, "--from", _q(Q_LEFT), "--to", _q(Q_RIGHT), "--seed", "3",
             "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    for k in ("success", "planning_time_ms", "path", "trajectory", "duration_s", "min_clearance_m"):
        assert k in d
    assert d["success"] and len(d["path"]) >= 3
    t, q = np.array(d["trajectory"]["t"]), np.array(d["trajectory"]["q"])
    assert np.allclose(np.diff(t), 0.001, atol=1e-5) and t[-1] == pytest.approx(d["duration_s"], abs=1e-6)
    assert np.allclose(q[0], Q_LEFT, atol=1e-6) and np.allclose(q[-1], Q_RIGHT, atol=1e-6)
    assert d["min_clearance_m"] >= 0.01 - 1e-4  # the default padding
    # the same in another process: the seed makes the trajectory
    out = subprocess.run([sys.executable, "-m", "officina.cli", "plan", "--robot", "panda", "--scene", str(f),
                          "--from", _q(Q_LEFT), "--to", _q(Q_RIGHT), "--seed", "3", "--json"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    d2 = json.loads(out.stdout)
    assert d2["path"] == d["path"] and d2["trajectory"] == d["trajectory"]
    # OMPL planned in that process: it exits without nanobind's "leaked" warnings on stderr
    assert out.stderr == "", out.stderr[:300]


def test_cli_plan_exit_codes(tmp_path, cli):
    f = _scene_file(tmp_path)
    q_in_wall = _q([0.0, 0.35, 0.0, -2.0, 0.0, 2.35, 0.785])
    r = cli(["plan", "--robot", "panda", "--scene", f, "--from", q_in_wall, "--to", _q(Q_RIGHT)])
    assert r.exit_code == 2 and "start in collision" in r.stderr and "obstacle:wall" in r.stderr
    r = cli(["plan", "--robot", "panda", "--scene", f, "--from", _q(Q_LEFT), "--to", _q(Q_RIGHT),
             "--time-budget", "0.000001"])
    assert r.exit_code == 1 and "no collision-free path" in r.stderr
    r = cli(["plan", "--robot", "panda", "--scene", f, "--from", _q(Q_LEFT), "--to-pose", "2,0,0.3,1,0,0,0"])
    assert r.exit_code == 2 and "unreachable" in r.stderr
    r = cli(["plan", "--robot", "nope", "--scene", f, "--from", _q(Q_LEFT), "--to", _q(Q_RIGHT)])
    assert r.exit_code == 2 and "unknown robot" in r.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("obstacles:\n  - {name: a, box: [1, 1, 1], xyz: [0, 0, 0], colour: red}\n")
    r = cli(["plan", "--robot", "panda", "--scene", bad, "--from", _q(Q_LEFT), "--to", _q(Q_RIGHT)])
    assert r.exit_code == 2 and "colour" in r.stderr
    r = cli(["plan", "--robot", "panda", "--scene", f, "--from", "0,0,0", "--to", _q(Q_RIGHT)])
    assert r.exit_code == 2 and "--from" in r.stderr
    r = cli(["plan", "--robot", "panda", "--scene", f, "--from", _q(Q_LEFT), "--to", _q(Q_RIGHT), "--time-budget", "0"])
    assert r.exit_code == 2 and "--time-budget: expected a positive number of seconds, got 0" in r.stderr
    q_out = Q_LEFT.copy()
    q_out[3] = 0.5
    r = cli(["plan", "--robot", "panda", "--scene", f, "--from", _q(q_out), "--to", _q(Q_RIGHT)])
    assert r.exit_code == 2 and "joint limits" in r.stderr


@pytest.mark.parametrize("name, content, reason", [
    ("photo.png", b"\x89PNG\r\n\x1a\n" + bytes(64), "No suitable reader found"),
    ("broken.stl", b"solid x garbage\n", "invalid primitive type"),
], ids=["not-a-mesh", "broken-stl"])
def test_cli_plan_mesh_that_cannot_load_is_one_line(tmp_path, cli, name, content, reason):
    (tmp_path / name).write_bytes(content)
    scene = tmp_path / "cell.yaml"
    scene.write_text(f"obstacles:\n  - {{name: part, mesh: {{file: {name}}}, xyz: [3, 3, 3]}}\n")
    r = cli(["plan", "--robot", "panda", "--scene", scene, "--from", _q(Q_LEFT), "--to", _q(Q_RIGHT)])
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and f"mesh {tmp_path / name}: cannot load it" in lines[0] and reason in lines[0]


def test_plan_motion_report_without_obstacles(panda):
    _, model = panda
    r, rep = plan_motion(model, PlanningScene(), HOME["panda"], q_to=Q_LEFT)
    assert r.success and rep["min_clearance_m"] is None


def test_cli_collision_pairs(tmp_path, cli):
    out = tmp_path / "p.srdf"
    r = cli(["collision-pairs", "--robot", "ur5e", "--samples", "200", "--out", out, "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert out.is_file() and any(p[2] == "Adjacent" for p in d["pairs"])
    # --out in a folder not made yet: made; a folder or a path under a file: one line, exit 2
    r = cli(["collision-pairs", "--robot", "ur5e", "--samples", "200", "--out", tmp_path / "new" / "p.srdf"])
    assert r.exit_code == 0 and (tmp_path / "new" / "p.srdf").is_file(), r.output
    for bad, message in ((tmp_path, f"--out {tmp_path}: a folder; expected the file to write"),
                         (out / "x.srdf", f"--out {out / 'x.srdf'}: {out} is a file, not a folder")):
        r = cli(["collision-pairs", "--robot", "ur5e", "--samples", "200", "--out", bad])
        assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1 and message in r.stderr, r.output
