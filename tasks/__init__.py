"""The lab tasks: one explicit registry, name -> task definition (scene + procedure + metrics).

The CLI and the tests both iterate over `TASKS`.
"""

from __future__ import annotations

from officina.tasks.base import Cell, ProcedureOutcome, TaskDefinition
from officina.tasks.pick_place import PickPlace

TASKS: dict[str, TaskDefinition] = {
    PickPlace.name: PickPlace(),
}

__all__ = ["TASKS", "Cell", "ProcedureOutcome", "TaskDefinition", "get_task"]


def get_task(name: str) -> TaskDefinition:
    from officina.errors import BadInput

    if name not in TASKS:
        raise BadInput(f"unknown task {name!r}; expected one of {', '.join(sorted(TASKS))}")
    return TASKS[name]
