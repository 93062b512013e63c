"""Errors that carry a message meant for the user (what went wrong, what to do next)."""

from __future__ import annotations

from .i18n import tr


class IdfHrError(Exception):
    """Base error: ``str(err)`` is a complete, user-readable sentence."""


class UserInputError(IdfHrError):
    """The user's input (file, extent, parameter) cannot be used as given."""


class NetworkError(IdfHrError):
    """A remote service failed, timed out, or answered something unusable."""

    def __init__(self, message: str, url: str = "", status: int | None = None):
        super().__init__(message)
        self.url = url
        self.status = status


class Cancelled(IdfHrError):
    """The user cancelled the operation; nothing partial was kept."""

    def __init__(self, message: str = ""):
        super().__init__(message or tr("Operation cancelled by the user; nothing was written."))
