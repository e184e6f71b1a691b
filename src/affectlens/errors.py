"""The one exception type meant for users: the CLI prints its message on one line and exits 1."""


class AffectlensError(Exception):
    """A problem with the user's input or environment, explained in plain words."""
