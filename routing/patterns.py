"""Regex conditions run RE2 (linear time, no backtracking) over at most the first
``MAX_TEXT_CHARS`` characters of a lead's field: partner-controlled text can never stall a
routing worker, whatever pattern a manager saved.

RE2 has no backreferences or lookaround; such a pattern is refused when the condition is
saved (admin form, API), and one saved before this check never matches (logged).
"""

import logging

import re2

logger = logging.getLogger(__name__)

MAX_TEXT_CHARS = 1000
_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # a refused pattern is our form error, not a line on stderr
_OPTIONS.max_mem = 8 << 20  # bounds the compiled program (huge repetitions are refused)


class PatternError(ValueError):
    """The pattern is not valid RE2 syntax (or too large)."""


def compile_pattern(pattern: str) -> "re2._Regexp":
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else "invalid pattern"
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise PatternError(str(reason))


def compile_or_none(pattern: str) -> "re2._Regexp | None":
    """For the engine: a stored pattern RE2 refuses never matches (and is logged)."""
    try:
        return compile_pattern(pattern)
    except PatternError as exc:
        logger.warning("regex condition %r never matches: %s", pattern, exc)
        return None


def pattern_search(regex: "re2._Regexp", text: str) -> bool:
    return regex.search(text[:MAX_TEXT_CHARS]) is not None
