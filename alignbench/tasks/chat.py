"""Conversational prompts: a list of ``{role, content}`` messages that is also its readable transcript.

A :class:`Chat` *is* a ``str`` (the transcript an LLM judge, an outputs file or a log line reads) and carries
the messages a chat template renders. Everything that treats prompts as text keeps working; the policy and
Hugging Face reward models read ``.messages``.
"""

from __future__ import annotations

ROLES = ("system", "user", "assistant", "tool")


def transcript(messages) -> str:
    """One user turn reads as its text; longer conversations as ``User: …`` / ``Assistant: …`` turns."""
    if len(messages) == 1 and messages[0]["role"] == "user":
        return messages[0]["content"]
    return "\n\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in messages)


class Chat(str):
    """A conversation (every earlier turn kept) whose string value is its readable transcript."""

    messages: tuple

    def __new__(cls, messages):
        msgs = tuple({"role": m["role"], "content": m["content"]} for m in messages)
        obj = super().__new__(cls, transcript(msgs))
        obj.messages = msgs
        return obj

    def __reduce__(self):
        return (Chat, ([dict(m) for m in self.messages],))


def as_messages(prompt: str) -> list[dict]:
    """The messages of a prompt: a :class:`Chat`'s own, or a plain string as one user turn."""
    if isinstance(prompt, Chat):
        return [dict(m) for m in prompt.messages]
    return [{"role": "user", "content": str(prompt)}]


def prompt_from_record(prompt: str, extra: dict) -> str:
    """The prompt of an outputs record: a :class:`Chat` again when the record kept its ``messages``."""
    messages = extra.get("messages") if isinstance(extra, dict) else None
    return Chat(messages) if isinstance(messages, list) and messages else prompt


def record_extra(prompt: str) -> dict:
    """What an outputs record keeps of a prompt beyond its text: the messages of a conversation."""
    return {"messages": [dict(m) for m in prompt.messages]} if isinstance(prompt, Chat) else {}
