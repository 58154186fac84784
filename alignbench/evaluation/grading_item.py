"""``GradingItem``: one conversation for single-answer grading, shared by MT-Bench grading, FastChat's
protocol and the single-answer evaluator."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class GradingItem:
    """One conversation to grade: its questions and the model's answers, turn by turn."""

    item_id: str
    questions: list[str]
    answers: list[str]
    model: str
    category: str = ""
