"""What a task is: parameters, a scene (simulation only), a procedure (interfaces only), metrics.

The procedure sees a `Cell`: the arm, gripper and camera interfaces, the robot's control
model, a ``tick`` that advances one control period, and the injected random Generator.
It never sees the simulator or ground truth; metrics do (in simulation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

import numpy as np
from pydantic import BaseModel

from officina.controllers.model import RobotModel
from officina.interfaces import Arm, Camera, Gripper

__all__ = ["Cell", "ProcedureOutcome", "TaskDefinition"]


@dataclass
class Cell:
    arm: Arm
    gripper: Gripper | None
    camera: Camera | None
    model: RobotModel
    tick: Callable[[], None]
    rng: np.random.Generator
    world_T_base: np.ndarray = field(default_factory=lambda: np.eye(4))
    events: list[dict[str, Any]] = field(default_factory=list)

    def log_event(self, t: float, what: str, **info: Any) -> None:
        self.events.append({"t": round(float(t), 6), "event": what, **info})


@dataclass(frozen=True)
class ProcedureOutcome:
    completed: bool
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)


class TaskDefinition(Protocol):
    name: str
    description: str
    Params: type[BaseModel]

    def build_scene(self, world: Any, params: BaseModel, rng: np.random.Generator) -> Any:
        """Create fixtures and objects in the simulated world; return a scene record."""

    def make_camera(self, world: Any, params: BaseModel) -> Camera | None:
        """The task's camera in simulation (None if the task needs none)."""

    def procedure(self, cell: Cell, params: BaseModel) -> ProcedureOutcome:
        """Do the job through the interfaces only."""

    def metrics(self, world: Any, scene: Any, params: BaseModel) -> dict[str, Any]:
        """Ground-truth outcome metrics, from the simulator (``success`` is required)."""
