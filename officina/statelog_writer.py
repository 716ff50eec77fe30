"""The state log's writer process: ``python -m officina.statelog_writer PATH``.

Reads pickles from stdin (a header, then batches, as `officina.statelog.StateLogObserver` sends
them), encodes them with `officina.statelog.LogEncoder` into the MCAP file PATH, and finishes the
file when stdin closes (or ends in the middle of a pickle: the sending process was killed).
Ignores SIGINT and SIGTERM: whoever stops the run stops the sender, whose pipe then closes.
"""

from __future__ import annotations

import pickle
import signal
import sys


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


if __name__ == "__main__":
    sys.exit(main())
