"""The committed baselines of the built-in tasks other than pick-place and palletizing
(tests/test_regress.py) hold on seed 0, one robot each: a deliberate change to a task shows here,
so its baselines are rewritten with it. `officina regress` runs every baseline on every seed."""

import pytest
from test_regress import _regress_seed_0


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("task,robot", [("bin-picking", "ur5e"), ("machine-tending", "iiwa"),
                                        ("peg-in-hole", "iiwa"), ("shared-cell", "panda")])
def test_every_other_task_holds_its_baseline_on_one_robot(cli, tmp_path, task, robot):
    """Seed 0 of the baseline passes and succeeded (`officina regress` of every baseline and seed
    takes about 3.5 minutes on two workers)."""
    res = _regress_seed_0(cli, tmp_path, task, robot)
    assert res[0]["success_rate"] == 1.0 and len(res[0]["checks"]) >= 5
