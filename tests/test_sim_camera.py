"""SimCamera against ground truth: pinhole projection, metric depth, segmentation, wrist mount."""

from __future__ import annotations

import numpy as np
import pybullet as p
import pytest

from officina.interfaces import Camera, CameraIntrinsics
from officina.sim.camera import SimCamera, look_at, zbuffer_to_depth


@pytest.fixture()
def client():
    cid = p.connect(p.DIRECT)
    yield cid
    p.disconnect(physicsClientId=cid)


def _sphere(cid: int, pos, r: float = 0.02) -> int:
    vis = p.createVisualShape(p.GEOM_SPHERE, radius=r, physicsClientId=cid)
    return p.createMultiBody(0, -1, vis, basePosition=list(pos), physicsClientId=cid)


def _project(K: np.ndarray, camera_T_world: np.ndarray, pt: np.ndarray) -> tuple[np.ndarray, float]:
    pc = camera_T_world[:3, :3] @ pt + camera_T_world[:3, 3]
    uv = K @ pc
    return uv[:2] / uv[2], float(pc[2])


def _centroid(mask: np.ndarray) -> np.ndarray:
    vs, us = np.nonzero(mask)
    assert len(us) > 30, "sphere not visible"
    return np.array([us.mean(), vs.mean()])


@pytest.mark.parametrize(
    "intr",
    [
        CameraIntrinsics.from_fov(320, 240, 60.0),
        # non-square pixels and an off-centre principal point: the projection must follow K
        CameraIntrinsics(320, 240, 300.0, 310.0, 150.3, 131.7),
    ],
    ids=["from_fov", "off_centre"],
)
def test_points_project_to_pinhole_pixels(client, intr):
    pts = [np.array([0.1, 0.05, 0.0]), np.array([-0.12, -0.08, 0.03]), np.array([0.0, 0.0, 0.0])]
    ids = [_sphere(client, q) for q in pts]
    world_T_camera = look_at([0.3, -0.2, 0.6], [0.0, 0.0, 0.0])
    cam = SimCamera(client, intr, world_T_camera)
    assert isinstance(cam, Camera)
    frame = cam.capture()
    assert frame.rgb.shape == (240, 320, 3) and frame.rgb.dtype == np.uint8
    assert frame.depth_m.dtype == np.float32 and frame.segmentation.dtype == np.int32
    camera_T_world = np.linalg.inv(cam.extrinsics())
    for q, body in zip(pts, ids):
        uv, _ = _project(intr.K, camera_T_world, q)
        # the centroid of a small sphere's silhouette is its centre's projection (to ~0.05 px here)
        assert np.linalg.norm(_centroid(frame.segmentation == body) - uv) < 0.35


def test_depth_is_metric_and_box_corner_lands_on_its_pixel(client):
    # a 0.4 x 0.3 m slab whose top face is at z = 0; camera 0.7 m above, looking down
    half = [0.2, 0.15, 0.01]
    vis = p.createVisualShape(p.GEOM_BOX, halfExtents=half, physicsClientId=client)
    box = p.createMultiBody(0, -1, vis, basePosition=[0.0, 0.0, -0.01], physicsClientId=client)
    intr = CameraIntrinsics.from_fov(320, 240, 60.0)
    world_T_camera = look_at([0.05, 0.02, 0.7], [0.05, 0.02, 0.0], up=[1.0, 0.0, 0.0])
    cam = SimCamera(client, intr, world_T_camera, near=0.05, far=3.0)
    frame = cam.capture()
    mask = frame.segmentation == box
    # depth along the optical axis is 0.7 m everywhere on the face (fronto-parallel)
    assert np.all(np.abs(frame.depth_m[mask] - 0.7) < 1e-3)
    # nothing behind the slab: background is id -1 with infinite depth
    assert np.all(frame.segmentation[~mask] == -1)
    assert np.all(np.isinf(frame.depth_m[~mask]))
    # the slab's silhouette is bounded by the projections of its top corners, to within a pixel
    camera_T_world = np.linalg.inv(world_T_camera)
    corners = np.array([[sx * half[0], sy * half[1], 0.0] for sx in (-1, 1) for sy in (-1, 1)])
    uvs = np.array([_project(intr.K, camera_T_world, c)[0] for c in corners])
    vs, us = np.nonzero(mask)
    assert abs(us.min() - uvs[:, 0].min()) <= 1.0 and abs(us.max() - uvs[:, 0].max()) <= 1.0
    assert abs(vs.min() - uvs[:, 1].min()) <= 1.0 and abs(vs.max() - uvs[:, 1].max()) <= 1.0


def test_depth_of_oblique_points_matches_camera_z(client):
    body = _sphere(client, [0.05, -0.04, 0.02], r=0.03)
    intr = CameraIntrinsics.from_fov(320, 240, 50.0)
    world_T_camera = look_at([0.5, 0.4, 0.5], [0.0, 0.0, 0.0])
    cam = SimCamera(client, intr, world_T_camera)
    frame = cam.capture()
    # back-project every sphere pixel with its depth: all must lie on the sphere's surface
    vs, us = np.nonzero(frame.segmentation == body)
    z = frame.depth_m[vs, us].astype(float)
    rays = np.linalg.inv(intr.K) @ np.vstack([us, vs, np.ones_like(us)])
    pts_cam = rays * z
    pts_world = world_T_camera[:3, :3] @ pts_cam + world_T_camera[:3, 3:4]
    r = np.linalg.norm(pts_world - np.array([[0.05], [-0.04], [0.02]]), axis=0)
    # TinyRenderer draws a tessellated sphere: its facets sit inside the true surface by < 1.5 mm
    assert np.median(np.abs(r - 0.03)) < 1.5e-3 and np.max(r) < 0.03 + 1e-3


def test_segmentation_ids_match_bodies(client):
    a = _sphere(client, [0.1, 0.0, 0.0])
    b = _sphere(client, [-0.1, 0.0, 0.0])
    cam = SimCamera(client, CameraIntrinsics.from_fov(160, 120, 60.0), look_at([0, -0.5, 0.3], [0, 0, 0]))
    seg = cam.capture().segmentation
    assert set(np.unique(seg)) == {-1, a, b}
    # a is at +x: right half of the image as seen from -y looking at +y with z up
    assert _centroid(seg == a)[0] > 80 > _centroid(seg == b)[0]


def _one_link_arm(cid: int) -> int:
    """A base with one revolute link about z, its link frame 0.3 m above the base."""
    vis = p.createVisualShape(p.GEOM_BOX, halfExtents=[0.02, 0.02, 0.02], physicsClientId=cid)
    return p.createMultiBody(
        baseMass=0,
        baseVisualShapeIndex=vis,
        basePosition=[0.0, 0.0, 0.0],
        linkMasses=[0.1],
        linkCollisionShapeIndices=[-1],
        linkVisualShapeIndices=[vis],
        linkPositions=[[0.0, 0.0, 0.3]],
        linkOrientations=[[0, 0, 0, 1]],
        linkInertialFramePositions=[[0.05, 0.0, 0.0]],  # COM off the link frame on purpose
        linkInertialFrameOrientations=[[0, 0, 0, 1]],
        linkParentIndices=[0],
        linkJointTypes=[p.JOINT_REVOLUTE],
        linkJointAxis=[[0, 0, 1]],
        physicsClientId=cid,
    )


def test_wrist_camera_follows_its_link(client):
    arm = _one_link_arm(client)
    target = _sphere(client, [0.4, 0.0, 0.3])
    # camera 0.1 m along the link's x axis, looking along +x, image "up" = +z
    link_T_camera = look_at([0.1, 0.0, 0.0], [1.0, 0.0, 0.0])
    intr = CameraIntrinsics.from_fov(160, 120, 60.0)
    cam = SimCamera(client, intr, mount=(arm, 0, link_T_camera))
    for angle in (0.0, 0.25, -0.3):
        p.resetJointState(arm, 0, angle, physicsClientId=client)
        c, s = np.cos(angle), np.sin(angle)
        world_T_link = np.eye(4)
        world_T_link[:3, :3] = [[c, -s, 0], [s, c, 0], [0, 0, 1]]
        world_T_link[2, 3] = 0.3
        expected = world_T_link @ link_T_camera
        np.testing.assert_allclose(cam.extrinsics(), expected, atol=1e-6)
        frame = cam.capture()
        uv, _ = _project(intr.K, np.linalg.inv(expected), np.array([0.4, 0.0, 0.3]))
        seen = _centroid(frame.segmentation == target)
        assert np.linalg.norm(seen - uv) < 0.5
        # turning the link left (+angle about z) moves the fixed target to the right of the image
        assert np.sign(round(seen[0] - 79.5)) == np.sign(angle)


def test_base_mounted_camera_uses_the_urdf_base_frame(client):
    vis = p.createVisualShape(p.GEOM_BOX, halfExtents=[0.02, 0.02, 0.02], physicsClientId=client)
    col = p.createCollisionShape(p.GEOM_BOX, halfExtents=[0.02, 0.02, 0.02], physicsClientId=client)
    body = p.createMultiBody(
        1.0, col, vis, basePosition=[0.2, 0.0, 0.0],
        baseInertialFramePosition=[0.0, 0.0, 0.1], physicsClientId=client,
    )
    world_T_base = np.eye(4)
    world_T_base[:3, 3] = p.getBasePositionAndOrientation(body, physicsClientId=client)[0]
    world_T_base[2, 3] -= 0.1  # PyBullet reports the inertial frame; the link frame is 0.1 m below
    base_T_camera = look_at([0.0, 0.0, 0.5], [0.0, 0.0, 0.0], up=[1.0, 0.0, 0.0])
    cam = SimCamera(client, CameraIntrinsics.from_fov(64, 48, 60.0), mount=(body, -1, base_T_camera))
    np.testing.assert_allclose(cam.extrinsics(), world_T_base @ base_T_camera, atol=1e-6)


def test_stamp_and_set_pose_and_bad_input(client):
    t = [1.25]
    cam = SimCamera(client, CameraIntrinsics.from_fov(32, 24, 60.0), np.eye(4), stamp_fn=lambda: t[0])
    assert cam.capture().stamp == 1.25
    T = look_at([1.0, 0.0, 0.0], [0.0, 0.0, 0.0])
    cam.set_pose(T)
    np.testing.assert_allclose(cam.extrinsics(), T)
    with pytest.raises(ValueError, match="4x4"):
        cam.set_pose(np.eye(3))
    with pytest.raises(ValueError, match="exactly one"):
        SimCamera(client, cam.intrinsics)
    with pytest.raises(ValueError, match="renderer"):
        SimCamera(client, cam.intrinsics, np.eye(4), renderer="vulkan")
    with pytest.raises(ValueError, match="distortion"):
        SimCamera(client, CameraIntrinsics(32, 24, 30.0, 30.0, 16.0, 12.0, (0.1, 0, 0, 0, 0)), np.eye(4))


def test_two_worlds_in_one_process_do_not_mix(client):
    other = p.connect(p.DIRECT)
    try:
        _sphere(other, [0.0, 0.0, 0.0], r=0.05)
        cam = SimCamera(client, CameraIntrinsics.from_fov(64, 48, 60.0), look_at([0, -0.5, 0.2], [0, 0, 0]))
        assert np.all(cam.capture().segmentation == -1)
    finally:
        p.disconnect(physicsClientId=other)


def test_zbuffer_conversion_inverts_the_projection():
    near, far = 0.01, 5.0
    z = np.array([0.02, 0.5, 1.0, 4.9])
    zbuf = (far + near) / (far - near) / 2 - far * near / (far - near) / z + 0.5  # OpenGL depth in [0, 1]
    np.testing.assert_allclose(zbuffer_to_depth(zbuf, near, far), z, rtol=1e-6)


def _board_corners(cid: int, n_views: int = 4, seed: int = 0) -> dict[int, np.ndarray]:
    """ChArUco corners of a textured board (sim/markers.py) seen from seeded, tilted, close views,
    detected in SimCamera renders (supersample 1 and 3) and in exact homography renders ("exact").
    Rows (u_true, v_true, u, v) of the corners found in both, keyed by 1, 3 and 0 (= exact)."""
    from officina.sim.markers import add_textured_plane
    from officina.vision.boards import board_image, detect_board, parse_board
    from officina.vision.synthetic import plane_T_texture_frame, random_view, render_plane

    intr = CameraIntrinsics(640, 480, 540.0, 540.0, 319.5, 239.5)
    board = parse_board("charuco:7x5:0.04:0.03:DICT_5X5_100")
    tex, A = board_image(board, px_per_square=100)
    plane_T_board, size = plane_T_texture_frame(tex.shape, A)
    add_textured_plane(cid, tex, size, np.eye(4))
    rng = np.random.default_rng(seed)
    w, h = board.size_m
    flip = np.diag([1.0, -1.0, -1.0, 1.0])
    out: dict[int, list] = {0: [], 1: [], 3: []}
    for _ in range(n_views):
        target = [w / 2 + rng.uniform(-0.08, 0.08), -h / 2 + rng.uniform(-0.06, 0.06), 0.0]
        camera_T_board = random_view(rng, rng.uniform(0.3, 0.45), 45.0, min_tilt_deg=15.0, target=target, max_roll_deg=25.0) @ flip
        world_T_camera = plane_T_board @ np.linalg.inv(camera_T_board)
        obs = {0: detect_board(render_plane(tex, A, camera_T_board, intr), board)}
        for s in (1, 3):
            obs[s] = detect_board(SimCamera(cid, intr, world_T_camera, supersample=s).capture().rgb, board)
        assert all(o is not None and len(o) >= 12 for o in obs.values())
        ids = obs[0].ids
        for o in obs.values():
            ids = np.intersect1d(ids, o.ids)
        pts = board.object_points()[ids]
        pc = camera_T_board[:3, :3] @ pts.T + camera_T_board[:3, 3:4]
        uv = intr.K @ pc
        uv = (uv[:2] / uv[2]).T
        for k, o in obs.items():
            found = np.array([o.image_points[np.flatnonzero(o.ids == i)[0]] for i in ids])
            out[k].append(np.column_stack([uv, found]))
    return {k: np.vstack(v) for k, v in out.items()}


def _trend_px(uv: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Offsets at the image edges (px) of a linear trend of d in u and in v (640x480)."""
    X = np.column_stack([np.ones(len(uv)), (uv[:, 0] - 319.5) / 320.0, (uv[:, 1] - 239.5) / 240.0])
    return np.linalg.lstsq(X, d, rcond=None)[0][1:]


def test_textured_board_corners_are_unbiased(client):
    # Catches a sub-pixel convention error anywhere between K, PyBullet's projection matrix,
    # TinyRenderer's corner sampling and row flip, the texture's texel mapping (sim/markers.py)
    # and supersampling: half a pixel or half a texel off moves every corner by 0.3-0.5 px.
    # Measured: mean offsets < 0.02 px. The reference for the trend across the image is the exact
    # homography render of the same views, which shares the corner detector's own small
    # perspective effect (~0.07 px at the edges at 0.3 m) but not the renderer.
    c = _board_corners(client)
    assert len(c[0]) >= 60
    for k in (0, 1, 3):  # detected minus pinhole prediction, mean over ~100 corners
        assert np.all(np.abs((c[k][:, 2:] - c[k][:, :2]).mean(axis=0)) < 0.04), (k, (c[k][:, 2:] - c[k][:, :2]).mean(axis=0))
    aliased = c[1][:, 2:] - c[0][:, 2:]  # one sample per pixel: staircase edges, ~0.2 px scatter
    assert np.all(np.abs(aliased.mean(axis=0)) < 0.06) and np.all(aliased.std(axis=0) < 0.3)
    smooth = c[3][:, 2:] - c[0][:, 2:]  # supersample 3: like an area-sampling camera
    assert np.all(np.abs(smooth.mean(axis=0)) < 0.02), smooth.mean(axis=0)
    assert np.all(smooth.std(axis=0) < 0.1), smooth.std(axis=0)
    for col in (0, 1):
        assert np.all(np.abs(_trend_px(c[0][:, :2], smooth[:, col])) < 0.05)


def test_supersample_keeps_depth_and_segmentation_at_pixel_centres(client):
    body = _sphere(client, [0.03, -0.02, 0.0], r=0.05)
    intr = CameraIntrinsics.from_fov(160, 120, 60.0)
    T = look_at([0.3, -0.2, 0.4], [0.0, 0.0, 0.0])
    one = SimCamera(client, intr, T).capture()
    cam3 = SimCamera(client, intr, T, supersample=3)
    assert cam3.supersample == 3 and cam3.intrinsics == intr
    three = cam3.capture()
    assert three.rgb.shape == (120, 160, 3) and three.rgb.dtype == np.uint8
    assert three.depth_m.shape == (120, 160) and three.segmentation.shape == (120, 160)
    # the centre sub-sample is the pixel centre: the same point samples as without supersampling
    assert np.mean(three.segmentation == one.segmentation) > 0.999
    both = (one.segmentation == body) & (three.segmentation == body)
    assert np.max(np.abs(three.depth_m[both] - one.depth_m[both])) < 1e-4
    # the RGB silhouette edge is now blended: grey levels between object and background appear
    assert len(np.unique(three.rgb.reshape(-1, 3), axis=0)) > len(np.unique(one.rgb.reshape(-1, 3), axis=0))
    for bad in (0, 2, 1.5):
        with pytest.raises(ValueError, match="supersample"):
            SimCamera(client, intr, T, supersample=bad)
