"""The error and warning types for bad or ambiguous input. Taught in chapter 02.

Every check in the package that rejects what a learner passed in (a missing
column, an empty history, an unknown id, a corrupt download) raises
:class:`DataError`, whose message says what is wrong and what to do.
"""
from __future__ import annotations

__all__ = ["DataError", "DataWarning"]


class DataError(ValueError):
    """Bad input data: the message says what is wrong and what to do. Taught in chapter 02."""


class DataWarning(UserWarning):
    """Data read with a choice the user should know about: the message says which and how to change it.

    Taught in chapter 02.
    """
