"""Validation messages in the page's language: services word them in Japanese (``validation.MESSAGES``)."""

from __future__ import annotations

import re

from .validation import MESSAGES


def localize_errors(errors: dict[str, list[str]], lang: str) -> dict[str, list[str]]:
    """Service messages are Japanese (the ``forms.validation`` wording); show them in the page's language."""
    if lang == "ja" or lang not in MESSAGES:
        return errors
    patterns = []
    for code, template in MESSAGES["ja"].items():
        regex = re.escape(template)
        regex = re.sub(r"\\\{(\w+)\\\}", lambda m: f"(?P<{m.group(1)}>.+?)", regex)
        patterns.append((re.compile(f"^{regex}$"), code))

    def one(message: str) -> str:
        for pattern, code in patterns:
            match = pattern.match(message)
            if match:
                return MESSAGES[lang][code].format(**match.groupdict())
        return message

    return {key: [one(m) for m in messages] for key, messages in errors.items()}
