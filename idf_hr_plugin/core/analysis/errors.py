"""The one error class of the analysis engine."""

from __future__ import annotations

from typing import Callable, Optional

from ..errors import Cancelled, UserInputError


class AnalysisError(UserInputError, ValueError):
    """Inputs that cannot be compared or summarised as given; ``str(err)`` says why and what to do."""


def check_cancel(cancel: Optional[Callable[[], bool]]) -> None:
    """Raise :class:`~..errors.Cancelled` when ``cancel()`` says the user cancelled."""
    if cancel is not None and cancel():
        raise Cancelled()
