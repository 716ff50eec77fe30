"""A task that ends its run the way real runs sometimes end, for the sweep tests.

`params.crash` chooses how the procedure ends after a few control periods:

* ``none``: it completes (success);
* ``raise``: it raises a RuntimeError (not officina's own error type);
* ``exit``: the process exits at once with status 3 (``os._exit``: no Python cleanup);
* ``sigkill``: the process kills itself with SIGKILL, as the out-of-memory killer does;
* ``segfault``: the process reads address 0 (a crash in native code, like one in the physics).

``params.wall_s`` makes each run take that much wall time first (a run in progress to interrupt).
"""

from __future__ import annotations

import ctypes
import os
import signal
import time
from typing import Literal

from pydantic import Field

from officina.tasks import MetricInfo, ProcedureOutcome, StrictParams, TaskDefinition, TaskScene


class CrashParams(StrictParams):
    crash: Literal["none", "raise", "exit", "sigkill", "segfault"] = "none"
    wall_s: float = Field(0.0, ge=0.0, le=30.0)


class CrashTask(TaskDefinition):
    name = "crash-test"
    description = "Tick a few control periods, then end as params.crash says (sweep tests)."
    Params = CrashParams
    metric_info = {"ticks": MetricInfo("", "control periods the procedure ran", None)}
    key_metrics = ("ticks",)

    def build_scene(self, world, params, rng):
        return TaskScene()

    def procedure(self, cell, params):
        if params.wall_s:
            time.sleep(params.wall_s)
        for _ in range(10):
            cell.tick()
        if params.crash == "raise":
            raise RuntimeError("the gripper driver lost its connection")
        if params.crash == "exit":
            os._exit(3)
        if params.crash == "sigkill":
            os.kill(os.getpid(), signal.SIGKILL)
        if params.crash == "segfault":
            ctypes.string_at(0)
        return ProcedureOutcome(True)

    def metrics(self, world, scene, params):
        return {"success": True, "ticks": 10}
