"""The exception types meant for users: the CLI prints the message on one line and exits 1; the
service answers :class:`NotFound` with 404, :class:`Conflict` with 409 and any other with 422."""


class AffectlensError(Exception):
    """A problem with the user's input or environment, explained in plain words."""


class NotFound(AffectlensError):
    """The named thing (a study, a respondent) does not exist."""


class Conflict(AffectlensError):
    """The thing to create exists already."""


class Gone(AffectlensError):
    """The thing existed but may no longer be used (an expired, revoked or used invite link)."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (drivers' messages run on with SQL and hints), else its type."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return (text.splitlines() or [exc.__class__.__name__])[0]
