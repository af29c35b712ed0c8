"""The one error type for bad input. Taught in chapter 02.

Every check in the package that rejects what a learner passed in (a missing
column, an empty history, an unknown id, a corrupt download) raises
:class:`DataError`, whose message says what is wrong and what to do.
"""
from __future__ import annotations

__all__ = ["DataError"]


class DataError(ValueError):
    """Bad input data: the message says what is wrong and what to do. Taught in chapter 02."""
