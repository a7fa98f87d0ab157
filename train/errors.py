"""The one error type the training scripts show to a person as a single line (no traceback)."""


class UserError(Exception):
    """Bad input or state that the user can fix: the message says what and where."""
