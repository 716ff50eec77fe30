"""Node parameters: typed declarations with one-line errors, and the configuration of the task a
node builds or runs (the same ``--set`` keys as `officina run`)."""

from __future__ import annotations

import re
from typing import Any, Sequence

__all__ = ["declare", "refuse_undeclared", "task_config"]


def declare(node, name: str, default: Any, description: str, *, read_only: bool = True,
            floating_point_range: tuple[float, float] | None = None):
    """Declare a typed parameter with a descriptor and return its value (BadInput with one line
    for a value of the wrong type or out of range)."""
    from rcl_interfaces.msg import FloatingPointRange, ParameterDescriptor
    from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException

    from officina.errors import BadInput

    desc = ParameterDescriptor(description=description, read_only=read_only)
    if floating_point_range is not None:
        desc.floating_point_range = [FloatingPointRange(from_value=float(floating_point_range[0]),
                                                        to_value=float(floating_point_range[1]), step=0.0)]
    try:
        return node.declare_parameter(name, default, desc).value
    except InvalidParameterValueException as exc:
        got = re.search(r"value \((.*?)\)", str(exc))
        val = f" = {got.group(1)}" if got else ""
        if floating_point_range:
            lo, hi = floating_point_range
            raise BadInput(f"parameter {name}{val} is out of range: expected {lo:g} to {hi:g}") from None
        raise BadInput(f"parameter {name}{val}: {exc}") from None
    except InvalidParameterTypeException as exc:
        raise BadInput(f"parameter {name}: {exc}") from None


def refuse_undeclared(node) -> None:
    """BadInput (one line) when the node was given a parameter (``--ros-args -p``, a parameters
    file) that it has not declared: rclpy ignores such a name silently, so a misspelt safety
    setting (``workspace_mni``) would leave the node running without it."""
    import difflib

    from officina.errors import BadInput

    unknown = sorted(n for n in node._parameter_overrides if not node.has_parameter(n))
    if unknown:
        known = sorted(node._parameters)
        close = difflib.get_close_matches(unknown[0], known, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"it has {', '.join(known)}"
        raise BadInput(f"parameter {unknown[0]!r}: node {node.get_name()} has no such parameter; {hint}")


def task_config(command: str, task: str, *, robot: str, seed: int, sets: Sequence[str] = (),
                accepted: Sequence[str] = ("params", "seed")):
    """The run configuration (`officina.config.RunConfig`) of the task a ROS node builds or runs,
    resolved by `officina.runner.resolve_config` exactly as for `officina run`: ``--set KEY=VALUE``
    takes the same dotted keys (task parameters are ``params.NAME``) and a bad key or value raises
    BadInput with the same one line. ``accepted``: the keys (and sections) ``command`` uses; a key
    of the run configuration outside them is refused rather than silently ignored."""
    from officina.errors import BadInput
    from officina.runner import resolve_config

    cfg = resolve_config(task, robot=robot, seed=seed, overrides=list(sets))
    for item in sets:
        key = item.split("=", 1)[0].strip()
        if not any(key == a or key.startswith(a + ".") for a in accepted):
            names = ", ".join("params.NAME" if a == "params" else a for a in accepted)
            raise BadInput(f"--set {key}: not used by `officina {command}`; it takes {names}")
    return cfg
