"""Errors a user can act on: the CLI prints their message and exits non-zero, no traceback."""


class UserError(RuntimeError):
    """Bad input or state the operator must fix (missing folder, unknown table...)."""

    exit_code = 2
