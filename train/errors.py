"""How the training command lines fail and stop: `UserError` for anything a person can fix, `main`,
the entry wrapper that shows such an error as one line on stderr (exit code 2), no traceback, and
the quiet exit of a run interrupted before its first step (exit code 128 + the signal's number,
130 for Ctrl-C): nothing of a run exists yet then, so there is nothing to save."""

import errno
import os
import signal
import sys
from collections.abc import Callable

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)  # Ctrl-C, and what kill, Docker, Slurm and launchers send


class UserError(Exception):
    """Bad input or state that the user can fix: the message says what and where."""


def quoted(value: object, limit: int = 40) -> str:
    """A value from a file or the command line for a message: its repr, cut short when long (a
    message never echoes whatever someone typed or planted in full)."""
    text = repr(value)
    length = len(value) if isinstance(value, str) else len(text)
    return text if len(text) <= limit else f"{text[:limit]}... ({length} characters)"


def describe_os_error(error: OSError) -> str:
    """`path: reason` of a failed read or write, the reason as the system words it."""
    reason = error.strerror or os.strerror(error.errno or errno.EIO)
    return f"{error.filename}: {reason}" if error.filename else reason


def exit_interrupted(signum: int, message: str) -> None:
    """Print `message` as the one line a stop leaves, and exit at once with 128 + the signal's number.

    Called from signal handlers (and once a KeyboardInterrupt was caught), so it exits with os._exit
    rather than raising SystemExit: an exception raised in a handler surfaces wherever the program
    happens to be, and there a library may swallow it (a `try: import ... except ImportError` around
    a C extension whose initialisation it interrupted) or turn it into an ImportError with a
    traceback. Whoever calls this has nothing left to save or close."""
    sys.stdout.flush()
    print(message, file=sys.stderr, flush=True)
    os._exit(128 + signum)


def exit_quietly_on_stop_signals(outcome: str = "during start-up; nothing was saved") -> None:
    """From now until the training loop installs its own handlers, Ctrl-C or SIGTERM exits at
    once with the line `interrupted (SIGINT) <outcome>` (imports and data loading take seconds,
    and a traceback from deep inside them tells nothing)."""
    def stop(signum, frame):
        exit_interrupted(signum, f"interrupted ({signal.Signals(signum).name}) {outcome}")

    for signum in STOP_SIGNALS:
        signal.signal(signum, stop)


def main(parse_and_run: Callable[[list[str]], None], argv: list[str] | None = None) -> None:
    """Run a script's entry point on `argv` (default: the command line's arguments)."""
    try:
        parse_and_run(sys.argv[1:] if argv is None else argv)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except OSError as error:  # a read or write the checks above could not foresee (a disk filling up)
        print(f"error: {describe_os_error(error)}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:  # only where no handler of ours was installed (a script run without -m)
        exit_interrupted(signal.SIGINT, "interrupted; nothing was saved")
