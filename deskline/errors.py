"""Errors a user can fix (a bad file, config, rule file or argument): exit 2, one line."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class UserError(Exception):
    pass


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the libraries' input errors into ``UserError`` with their own message."""
    from deskline.config import ConfigError
    from speech.audio import AudioFormatError
    from speech.engines.base import EngineUnavailableError, ModelNotFoundError
    from speech.qa.rulefile import RuleFileError

    try:
        yield
    except (ConfigError, AudioFormatError, ModelNotFoundError, EngineUnavailableError,
            RuleFileError) as e:
        raise UserError(str(e)) from None
