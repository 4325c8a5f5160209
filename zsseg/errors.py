"""The one exception type users see."""


class ZsegError(Exception):
    """A problem with the user's input or set-up.

    The message is a single line that says what was wrong and what to do about it; the CLI
    prints it without a traceback and exits with status 2.
    """


class ImageTooLargeError(ZsegError):
    """An image over the pixel limit (the HTTP API answers it with 413)."""
