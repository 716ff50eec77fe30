"""The state log's writer process: ``python -m officina.statelog_writer PATH``.

Reads pickles from stdin (a header, then batches, as `officina.statelog.StateLogObserver` sends
them), encodes them with `officina.statelog.LogEncoder` into the MCAP file PATH, and finishes the
file when stdin closes (or ends in the middle of a pickle: the sending process was killed).
Ignores SIGINT and SIGTERM: whoever stops the run stops the sender, whose pipe then closes.
Once the file is finished the process exits at once: the run waits for it, and tearing the
interpreter down (its modules, the ROS type store, the robot's model) would only add to the wait.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
import traceback


def main(argv: list[str] | None = None) -> int:
    from officina.statelog import LogEncoder, StateLog

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m officina.statelog_writer PATH", file=sys.stderr)
        return 2
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    stdin = sys.stdin.buffer
    try:
        header = pickle.load(stdin)
    except (EOFError, pickle.UnpicklingError):
        return 0
    enc = LogEncoder(StateLog(args[0]), header)
    try:
        while True:
            try:
                batch = pickle.load(stdin)
            except (EOFError, pickle.UnpicklingError, ValueError):
                break
            enc.batch(batch)
    finally:
        enc.close()
    return 0


def _run_and_exit() -> None:
    """`main`, then exit without the interpreter's teardown (a failure's traceback on stderr)."""
    code = 1
    try:
        code = main()
    except BaseException:  # noqa: BLE001 - reported on stderr, which the run reads
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


if __name__ == "__main__":
    _run_and_exit()
