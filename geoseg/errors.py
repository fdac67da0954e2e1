"""Errors that reach the user as one clear line (the CLI prints them without a traceback)."""


class GeosegError(Exception):
    """Something the user can fix: bad input, a missing file, an output in the way."""
