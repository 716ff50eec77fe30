"""Run configuration: typed, frozen, unknown keys are errors; YAML files and dotted overrides.

``officina run pick-place --config my.yaml --set params.n_objects=4 --set sim.dt=0.002``
A run folder's ``config.yaml`` is a complete configuration: ``officina run --config RUN/config.yaml``
reproduces the run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from officina.errors import BadInput
from officina.interfaces import read_yaml

__all__ = ["SimSettings", "LogSettings", "SafetySettings", "RunConfig", "apply_overrides", "load_yaml", "format_validation_error"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SimSettings(_Strict):
    dt: float = Field(0.001, gt=0, le=0.01, description="physics step [s]")
    control_dt: float = Field(0.001, gt=0, le=0.1, description="control period [s], a whole multiple of dt")
    gravity: float = Field(-9.81, description="gravity along world z [m/s^2]")
    solver_iterations: int = Field(50, ge=1, le=500)


class LogSettings(_Strict):
    joint_state_hz: float = Field(250.0, ge=100.0, le=1000.0, description="rate of /joint_states in the log")
    object_pose_hz: float = Field(50.0, gt=0, le=1000.0)
    tf_hz: float = Field(50.0, gt=0, le=1000.0, description="rate of the robot's links on /tf (viewers interpolate)")
    plots: bool = True
    video: bool = False
    video_fps: int = Field(30, ge=1, le=120)
    video_width: int = Field(640, ge=64, le=1920)
    video_height: int = Field(480, ge=48, le=1080)
    writer: Literal["auto", "process", "inline"] = Field(
        "auto", description="where the state log is encoded: a writer process (off the loop's core), inline (in the "
                            "loop's thread), or auto: a writer process, inline in a sweep's worker")


class SafetySettings(_Strict):
    """The safety filter between the procedure and the arm (as in front of a real arm)."""

    action: str = Field("clamp", pattern="^(clamp|reject)$", description="what to do with a command over a limit")
    velocity_scale: float = Field(1.0, gt=0, le=1)
    acceleration_scale: float = Field(1.0, gt=0, le=1)
    watchdog_periods: int = Field(50, ge=0, description="control periods without a command before holding (0: off)")
    workspace_min: tuple[float, float, float] | None = None
    workspace_max: tuple[float, float, float] | None = None
    protective_stop: bool = Field(True, description="stop the arm on contact as the real arm does (robot file's thresholds)")
    contact_rate_hz: float = Field(500.0, ge=50.0, le=1000.0, description="rate of the contact monitor")


class RunConfig(_Strict):
    """The fully resolved configuration of one run (saved as config.yaml in the run folder)."""

    task: str
    robot: str = "panda"
    seed: int = Field(0, ge=0, le=2**32 - 1)
    gui: bool = False
    realtime: bool = False
    sim: SimSettings = SimSettings()
    log: LogSettings = LogSettings()
    safety: SafetySettings = SafetySettings()
    params: dict[str, Any] = Field(default_factory=dict, description="task parameters (validated by the task)")

    @field_validator("task", "robot")
    @classmethod
    def _non_empty(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be empty")
        return v


def format_validation_error(exc: ValidationError, prefix: str = "") -> str:
    err = exc.errors()[0]
    loc = ".".join(str(x) for x in err["loc"])
    where = f"{prefix}{loc}" if loc else prefix.rstrip(".") or "config"
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    elif err["type"] == "value_error":
        msg = msg.removeprefix("Value error, ")  # pydantic's prefix to a validator's own message
    return f"config key {where!r}: {msg}" + (f" (got {err['input']!r})" if err["type"] != "extra_forbidden" and "input" in err and not isinstance(err["input"], dict) else "")


def load_yaml(path: str | Path) -> dict[str, Any]:
    """A configuration file's mapping (an empty file is ``{}``); ValueError with one line if not."""
    return read_yaml(path, "config file", mapping=True)


def _parse_value(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``key.sub=value`` overrides (values parsed as YAML scalars/lists) to a nested dict."""
    out = yaml.safe_load(yaml.safe_dump(data))  # deep copy of plain data
    for item in overrides:
        if "=" not in item:
            raise BadInput(f"--set {item!r}: expected KEY=VALUE with a dotted key, e.g. params.n_objects=4")
        key, raw = item.split("=", 1)
        key = key.strip()
        if not key or any(not part for part in key.split(".")):
            raise BadInput(f"--set {item!r}: empty key; expected a dotted key such as sim.dt")
        parts = key.split(".")
        node = out
        for part in parts[:-1]:
            nxt = node.get(part)
            if nxt is None:
                nxt = {}
                node[part] = nxt
            if not isinstance(nxt, dict):
                raise BadInput(f"--set {item!r}: {part!r} is a value, not a section")
            node = nxt
        node[parts[-1]] = _parse_value(raw)
    return out
