"""Errors a user can cause, reported by the CLI as one clear message."""


class RoadkdError(Exception):
    """A problem with the user's input or environment, not a bug in roadkd.

    The CLI turns it into one line on stderr and a non-zero exit status, without a traceback.
    """
