"""The one error both journals share, kept apart so each journal's module can raise it."""

from __future__ import annotations


class BadRequestError(Exception):
    """A parameter the API rejects with 400; the message names it."""
