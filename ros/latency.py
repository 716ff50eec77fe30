"""The latency modes: what officina's nodes offer to shorten the command-to-state loop, and what
each one costs. Both are off by default where they change behaviour; docs/ros.md (Latency modes)
has their measurements.

* **Executor** (``executor`` parameter of the sim and the gate, `make_executor`): ``events`` is
  rclpy's EventsExecutor, which dispatches a message in C++ instead of Python; ``single`` is
  SingleThreadedExecutor. The sim defaults to ``events`` (its only task catches what it raises),
  the gate to ``single`` (the EventsExecutor is experimental in rclpy and the gate is the safety
  boundary). Where rclpy has no EventsExecutor, ``events`` falls back to ``single``.
* **Command-synced periods** (``command_sync`` of the sim, realtime pacing only, `CommandSync`):
  a bus-synchronous drive. A forward command runs the control period it arrives in at once and its
  state goes out right away, instead of at the end of the period (ros2_control's fixed-period
  loop); without commands the sim keeps its own period.
"""

from __future__ import annotations

from officina.ros.pacing import RealtimeGrid

__all__ = ["EXECUTORS", "executor_kind", "make_executor", "spin_forever", "SYNC_PHASE_GAIN", "CommandSync"]

EXECUTORS = ("events", "single")
SYNC_PHASE_GAIN = 0.1  # share of a command's phase error the period grid moves by


# --- executor ---------------------------------------------------------------------------------------
def executor_kind(kind: str) -> str:
    """Check an ``executor`` parameter; returns the executor it gets: ``"events"`` where rclpy has
    the EventsExecutor (Kilted; Jazzy from rclpy 7.1.4), otherwise ``"single"``."""
    from officina.errors import BadInput

    if kind not in EXECUTORS:
        raise BadInput(f"parameter executor {kind!r}: expected one of {', '.join(EXECUTORS)}")
    if kind == "events":
        try:
            from rclpy.experimental import EventsExecutor  # noqa: F401
        except ImportError:
            return "single"
    return kind


def make_executor(kind: str = "single", context=None):
    """A new executor of `executor_kind` (kind)."""
    if executor_kind(kind) == "events":
        from rclpy.experimental import EventsExecutor

        return EventsExecutor(context=context)
    from rclpy.executors import SingleThreadedExecutor

    return SingleThreadedExecutor(context=context)


def spin_forever(executor, stop=None) -> None:
    """Spin until ``stop()`` (checked between callbacks, at least every 0.1 s) or the context shuts
    down (rclpy.shutdown). Driven by spin_once for both executors: the EventsExecutor's spin() runs
    no callback and ignores shutdown in rclpy 9.1.2 (the Kilted wheels)."""
    while executor.context.ok() and not (stop is not None and stop()):
        executor.spin_once(timeout_sec=0.1)


# --- command-synced periods ---------------------------------------------------------------------------
class CommandSync:
    """Runs the control period a forward command falls in when the command arrives, on a
    `RealtimeGrid`.

    The period runs early (its state is stamped with its end, at most one and a half periods ahead
    of the wall clock). A command that comes after its period already ran starts the next one if
    that one is less than half a period away, so a stream at the control rate keeps one period per
    command despite jitter; otherwise it waits for the period's end, as without sync.

    The grid locks onto the stream's phase: each command that runs a period moves the grid (and
    the stamps with it) ``gain`` of the way to the command's arrival, so a steady stream settles at
    the start of its periods, the farthest from the half-period edge, and one late or early command
    moves it little. Without the lock, a stream on another clock (another machine) walks through
    the grid and loses a command each time its phase crosses that edge.
    """

    def __init__(self, grid: RealtimeGrid, gain: float = SYNC_PHASE_GAIN) -> None:
        if not 0.0 <= gain <= 1.0:
            raise ValueError(f"gain must be within [0, 1], got {gain}")
        self.grid = grid
        self.gain = float(gain)

    def run_now(self, arrival: float, ran: int) -> bool:
        """Whether a command that arrived at monotonic time ``arrival`` (after the periods due
        then have run, ``ran`` in all) runs the next period now; the grid moves when it does."""
        start = self.grid.start(ran)
        if start - arrival > 0.5 * self.grid.period:
            return False
        self.grid.shift(self.gain * (arrival - start))
        return True
