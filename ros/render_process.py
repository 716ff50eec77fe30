"""The simulated camera rendered beside the control loop, not inside it: a forked copy of the
PyBullet world that mirrors the poses it is sent and renders them.

PyBullet renders in the calling thread and holds the GIL while it does (a 1280 x 960 frame takes
0.3-1 s of a loaded machine), so a camera rendered in `officina ros sim`'s control loop stops the
loop, and with it ``/joint_states``, for as long: the gate disarms when the arm's state is older
than its ``state_timeout_s``, and the real-time grid slips. A real camera does not stop the arm;
this process keeps the sim honest about that. It is forked from the sim once its cell is built
(fork copies the in-process DIRECT physics server: the same bodies, ids, meshes and colours),
and then renders on request: the sim sends a snapshot of every body's base pose and joint
positions (and base colours that changed) stamped with its clock, and gets back the RGB and
depth images of that state, stamped alike, one period or more later. While a frame is being
rendered no other is requested (a camera that cannot keep up drops frames). The forked child
touches only PyBullet and its pipe, never ROS.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import warnings
from typing import Any

import numpy as np
import pybullet as p

__all__ = ["CameraProcess"]


def _bodies(cid: int) -> tuple[int, ...]:
    return tuple(p.getBodyUniqueId(i, physicsClientId=cid) for i in range(p.getNumBodies(physicsClientId=cid)))


def _base_rgba(cid: int, body: int) -> tuple[float, ...] | None:
    for shape in p.getVisualShapeData(body, physicsClientId=cid):
        if shape[1] == -1:
            return tuple(float(v) for v in shape[7])
    return None


def _serve(conn, cid: int, camera, joints: dict[int, tuple[int, ...]]) -> None:
    """The child: mirror each snapshot, render, send the frame back; exit when the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the sim's Ctrl-C is the sim's: it closes the pipe
    try:
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                break
            if msg is None:
                break
            stamp, states, colours = msg
            for body, pos, quat, q in states:
                p.resetBasePositionAndOrientation(body, pos, quat, physicsClientId=cid)
                for j, v in zip(joints[body], q):
                    p.resetJointState(body, j, v, physicsClientId=cid)
            for body, rgba in colours:
                p.changeVisualShape(body, -1, rgbaColor=list(rgba), physicsClientId=cid)
            frame = camera.capture()
            conn.send((stamp, frame.rgb, frame.depth_m))
    finally:
        os._exit(0)  # nothing of the parent's (ROS, atexit handlers) runs in the fork


class CameraProcess:
    """Renders ``camera`` (a `SimCamera` of the world ``client_id``) in a forked copy of the world.

    ``request(stamp)`` snapshots the world now and hands it to the child (when it is idle: returns
    False otherwise); ``poll()`` returns ``(stamp, rgb, depth_m)`` once the frame is there, else
    None. A body added to the world after the fork restarts the child (a new fork)."""

    def __init__(self, client_id: int, camera: Any) -> None:
        self._cid = int(client_id)
        self._camera = camera
        self._proc = None
        self._conn = None
        self.busy = False
        self.restarts = 0
        self._fork()

    def _fork(self) -> None:
        cid = self._cid
        self._bodies = _bodies(cid)
        self._joints = {b: tuple(j for j in range(p.getNumJoints(b, physicsClientId=cid))
                                 if p.getJointInfo(b, j, physicsClientId=cid)[2] in (p.JOINT_REVOLUTE, p.JOINT_PRISMATIC))
                        for b in self._bodies}
        self._colours = {b: _base_rgba(cid, b) for b in self._bodies}
        ctx = mp.get_context("fork")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child, cid, self._camera, self._joints), daemon=True,
                                 name="officina-sim-camera")
        with warnings.catch_warnings():
            # Python 3.12 warns on any fork of a process with threads (rclpy's and DDS's here): the
            # child runs only PyBullet, NumPy and its pipe, which share no lock with those threads
            warnings.filterwarnings("ignore", message=r".*use of fork\(\) may lead to deadlocks", category=DeprecationWarning)
            self._proc.start()
        child.close()
        self.busy = False

    def _snapshot(self) -> tuple[list, list]:
        cid = self._cid
        states = []
        for b in self._bodies:
            pos, quat = p.getBasePositionAndOrientation(b, physicsClientId=cid)
            js = self._joints[b]
            q = tuple(s[0] for s in p.getJointStates(b, js, physicsClientId=cid)) if js else ()
            states.append((b, pos, quat, q))
        colours = []
        for b in self._bodies:
            if self._joints[b]:
                continue  # the robot's links are not recoloured; a part's base is
            rgba = _base_rgba(cid, b)
            if rgba != self._colours[b]:
                self._colours[b] = rgba
                colours.append((b, rgba))
        return states, colours

    def request(self, stamp: float) -> bool:
        """Render the world as it is now, stamped ``stamp``; False while the last frame is pending."""
        if self.busy:
            return False
        if not self.alive() or p.getNumBodies(physicsClientId=self._cid) != len(self._bodies):
            self.close()
            self.restarts += 1
            self._fork()
        states, colours = self._snapshot()
        self._conn.send((float(stamp), states, colours))
        self.busy = True
        return True

    def poll(self) -> tuple[float, np.ndarray, np.ndarray | None] | None:
        """The pending frame if it has been rendered, else None."""
        if not self.busy or not self._conn.poll():
            return None
        self.busy = False
        try:
            stamp, rgb, depth = self._conn.recv()
        except (EOFError, OSError):  # the child died: the next request forks a new one
            return None
        return stamp, rgb, depth

    def alive(self) -> bool:
        return self._proc is not None and self._proc.is_alive()

    def close(self) -> None:
        if self._proc is None:
            return
        try:
            self._conn.send(None)
        except (OSError, ValueError):
            pass
        self._conn.close()
        self._proc.join(2.0)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join(2.0)
        self._proc = None
