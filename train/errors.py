"""How the training command lines fail: `UserError` for anything a person can fix, and `main`,
the entry wrapper that shows such an error as one line on stderr (exit code 2), no traceback."""

import sys
from collections.abc import Callable


class UserError(Exception):
    """Bad input or state that the user can fix: the message says what and where."""


def main(parse_and_run: Callable[[list[str]], None]) -> None:
    """Run a script's entry point on the command-line arguments."""
    try:
        parse_and_run(sys.argv[1:])
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
