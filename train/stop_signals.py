"""Stopping a training run with Ctrl-C (SIGINT) or SIGTERM: `StopSignals` turns the first signal
into a request the training loop checks between steps, so a stopped run never saves the state of a
half-finished step, and a second one into "stop now". (Before the loop starts, train/errors.py's
exit_quietly_on_stop_signals makes a stop a quiet exit.)"""

import os
import signal
from collections.abc import Callable

from train.errors import STOP_SIGNALS, exit_interrupted


class StopSignals:
    """While in its `with` block: the first stop signal is remembered in `received`. A second one
    means "stop now": exit at once with one line, leaving the last saved state (the temporary files
    of a write it cut short are removed first; each file is replaced atomically, so the saved ones
    stay whole). Under a launcher (torchrun, `accelerate launch`) a repeated signal is the launcher
    passing on the one the terminal already sent; the launcher itself kills the processes if they do
    not finish, so a repeat is ignored there."""

    def __init__(self, saved_step: Callable[[], int], remove_unfinished_writes: Callable[[], None]):
        self.received: int | None = None
        self.saved_step = saved_step
        self.remove_unfinished_writes = remove_unfinished_writes
        self.under_launcher = "TORCHELASTIC_RUN_ID" in os.environ
        self.previous: dict[int, object] = {}

    def __enter__(self) -> "StopSignals":
        for signum in STOP_SIGNALS:
            self.previous[signum] = signal.signal(signum, self.remember)
        return self

    def __exit__(self, *exc_info) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)

    def remember(self, signum: int, frame) -> None:
        if self.received is None:
            self.received = signum
        elif not self.under_launcher:
            saved = self.saved_step()
            self.remove_unfinished_writes()
            # The leading newline ends the progress bar's line, which has none of its own.
            exit_interrupted(signum, f"\ninterrupted again ({signal.Signals(signum).name}): stopped at once; "
                                     + (f"state.pt and export/ keep step {saved}" if saved else "nothing was saved"))
