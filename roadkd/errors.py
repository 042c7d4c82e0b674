"""Errors a user can cause, reported by the CLI as one clear message."""


class RoadkdError(Exception):
    """A problem with the user's input or environment, not a bug in roadkd.

    The CLI turns it into one line on stderr and a non-zero exit status, without a traceback.
    """


def brief_reason(err: BaseException, limit: int = 200) -> str:
    """One line (at most ``limit`` characters) saying why ``err`` happened, for messages."""
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
