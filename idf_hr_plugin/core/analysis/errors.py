"""The one error class of the analysis engine."""

from __future__ import annotations

from ..errors import UserInputError


class AnalysisError(UserInputError, ValueError):
    """Inputs that cannot be compared or summarised as given; ``str(err)`` says why and what to do."""
