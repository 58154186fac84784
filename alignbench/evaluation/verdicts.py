"""Verdict parsers: a reply's verdict counts only when it is the reply's one verdict.

A reply whose markers disagree ("My verdict: [[B]]. The answers said: [[A]]") is unparseable: which
marker is the judge's own and which is quoted from a response cannot be told apart, so a response
that contains "[[A]]" can never vote for itself. The same verdict repeated is that verdict.
"""

from __future__ import annotations

import re

_BRACKETS = re.compile(r"\[\[\s*([ABC])\s*\]\]")
_PREFERRED = re.compile(r"^\s*\**\s*Preferred\s*\**\s*:\s*\**\s*\"?([AB])\"?\b", re.IGNORECASE | re.MULTILINE)
_MORE_HELPFUL = re.compile(r"^\s*\**\s*More helpful\s*\**\s*:\s*\**\s*\"?([AB])\"?\b", re.IGNORECASE | re.MULTILINE)


def parse_verdict(text: str | None, parser: str) -> str | None:
    """'A', 'B', 'tie', or None when the reply carries no verdict."""
    if not text:
        return None
    pattern = {"brackets": _BRACKETS, "preferred": _PREFERRED, "more-helpful": _MORE_HELPFUL}[parser]
    found = {v.upper() for v in pattern.findall(text)}
    if len(found) != 1:
        return None  # none, or two different verdicts: counted in n_parse_failures, never one of them
    only = found.pop()
    return "tie" if only == "C" else only


_RATING = re.compile(r"\[\[\s*(\d+(?:\.\d+)?)\s*\]\]")
RATING_RANGE = (1.0, 10.0)


def parse_rating(text: str | None) -> float | None:
    """The judge's last "[[rating]]" (MT-Bench single-answer grading), or None when there is none or it
    lies outside 1–10: an unreadable rating is excluded and counted, never coerced into the scale."""
    if not text:
        return None
    found = _RATING.findall(text)
    if not found:
        return None
    value = float(found[-1])
    return value if RATING_RANGE[0] <= value <= RATING_RANGE[1] else None
