"""How the simulated robot (`officina ros sim`) keeps time, without ROS.

Three pacings (`PACINGS`): ``realtime`` runs one control period per period of the wall clock, on
the grid of `RealtimeGrid` (ros2_control's fixed-period loop); ``fast`` runs periods back to back
and publishes ``/clock``; ``lockstep`` runs them when asked (a service call) and publishes ``/clock``.
Only real time needs a clock of its own, and this is it: a pure class, driven by the caller's
monotonic time, so it is tested without rclpy and without waiting.
"""

from __future__ import annotations

__all__ = ["PACINGS", "MAX_CATCHUP_PERIODS", "RealtimeGrid"]

PACINGS = ("realtime", "fast", "lockstep")
MAX_CATCHUP_PERIODS = 5


class RealtimeGrid:
    """The period grid of real-time pacing.

    Period ``k`` (0, 1, ...) spans ``[wall0 + k dt, wall0 + (k + 1) dt)`` of the monotonic clock and
    runs once that span has ended, as ros2_control's loop applies a command at the end of the
    period it arrives in. Its state is stamped with the period's end on the clock in use:
    ``stamp(k + 1) = stamp0 + (k + 1) dt``. The grid and the stamps start at the same instant
    (``wall0`` and ``stamp0`` read together), so a state's stamp is its age on the wall clock.

    A loop that falls behind by more than ``max_catchup`` periods (CPU, rendering) slips the grid
    instead of bursting: `due` runs at most that many at once and moves the grid (and the stamps)
    by the rest; ``overruns`` counts the slips.
    """

    def __init__(self, period_s: float, wall0: float, stamp0: float,
                 max_catchup: int = MAX_CATCHUP_PERIODS) -> None:
        if not period_s > 0:
            raise ValueError(f"period must be positive, got {period_s}")
        if max_catchup < 1:
            raise ValueError(f"max_catchup must be >= 1, got {max_catchup}")
        self.period = float(period_s)
        self.wall0 = float(wall0)
        self.stamp0 = float(stamp0)
        self.max_catchup = int(max_catchup)
        self.overruns = 0

    def due(self, now: float, ran: int) -> int:
        """How many periods to run at monotonic time ``now`` when ``ran`` have run so far."""
        n = int((now - self.wall0) / self.period) - ran
        if n > self.max_catchup:
            self.overruns += 1
            self.shift((n - self.max_catchup) * self.period)
            n = self.max_catchup
        return max(0, n)

    def start(self, k: int) -> float:
        """Monotonic time at which period ``k`` starts (and period ``k - 1`` ends)."""
        return self.wall0 + k * self.period

    def stamp(self, k: int) -> float:
        """Time on the clock in use at the start of period ``k``."""
        return self.stamp0 + k * self.period

    def shift(self, seconds: float) -> None:
        """Move the grid and the stamps together by ``seconds``."""
        self.wall0 += seconds
        self.stamp0 += seconds
