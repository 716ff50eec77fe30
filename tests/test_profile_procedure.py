"""The procedure profiler's accounting (benchmarks/profile_procedure.py; the profile itself is
run by hand): a timed call's time is its own, without its timed callees'."""

import time

from officina.benchmarks.profile_procedure import TIMED, Timers


def _spin(seconds: float) -> None:
    t0 = time.thread_time()
    while time.thread_time() - t0 < seconds:
        pass


def test_timed_calls_are_exclusive_and_counted():
    timers = Timers()
    inner = timers.wrap(lambda: _spin(0.02), "inner")

    def outer_fn():
        _spin(0.01)
        inner()
        inner()

    outer = timers.wrap(outer_fn, "outer")
    t0 = time.thread_time()
    outer()
    total = time.thread_time() - t0
    assert timers.calls == {"outer": 1, "inner": 2}
    assert 0.04 <= timers.seconds["inner"] < 0.05
    assert 0.01 <= timers.seconds["outer"] < 0.02
    assert sum(timers.seconds.values()) <= total


def test_every_timed_function_exists():
    import importlib

    for mod_name, cls_name, fn_name, _ in TIMED:
        owner = importlib.import_module(mod_name)
        owner = getattr(owner, cls_name) if cls_name else owner
        assert callable(getattr(owner, fn_name)), (mod_name, cls_name, fn_name)
