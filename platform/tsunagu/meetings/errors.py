"""One shape for this module's input errors: 422 ``validation_failed`` with the field in ``details``."""

from __future__ import annotations

from ..core.errors import ValidationFailed


def invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"{field}: {message}", details={field: message})
