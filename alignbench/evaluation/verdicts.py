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


# Arena-Hard-Auto's labels (its gen_judgment.get_score): every "[[label]]" in the reply; one distinct label is
# the verdict, none or several conflicting ones is no verdict. Strong and weak count alike here.
_ARENA_HARD = re.compile(r"\[\[([AB<>=]+)\]\]")
ARENA_HARD_VERDICTS = {"A>>B": "A", "A>B": "A", "A=B": "tie", "B>A": "B", "B>>A": "B"}


def parse_verdict(text: str | None, parser: str) -> str | None:
    """'A', 'B', 'tie', or None when the reply carries no verdict."""
    if not text:
        return None
    if parser == "arena-hard":
        labels = {m for m in _ARENA_HARD.findall(text) if m}
        return ARENA_HARD_VERDICTS.get(labels.pop()) if len(labels) == 1 else None
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


# FastChat's llm_judge/common.py: the first "[[n]]", else the first "[n]"; any number, no range check
# (show_result leaves out only −1, its mark for "no rating").
_FASTCHAT_RATING = (re.compile(r"\[\[(\d+\.?\d*)\]\]"), re.compile(r"\[(\d+\.?\d*)\]"))


def parse_fastchat_rating(text: str | None) -> float | None:
    """MT-Bench's own rating parser (judge YAML ``parser: fastchat-rating``); None where FastChat records −1."""
    for pattern in _FASTCHAT_RATING:
        match = pattern.search(text or "")
        if match:
            return float(match.group(1))
    return None
