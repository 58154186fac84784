"""Credentials never reach a screen or a file: every message goes through :func:`redact`."""

from __future__ import annotations

import re

_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]*@")
_KNOWN: set[str] = set()


def remember(*values: str | None) -> None:
    """Values to scrub from every later message: API keys read from the environment, URL passwords."""
    _KNOWN.update(v for v in values if v and len(v) >= 3 and v != "EMPTY")


def redact(text: str, *values: str | None) -> str:
    """``text`` with URL credentials (``http://u:pw@host`` → ``http://***@host``), every remembered secret
    and ``values`` replaced by ``***``."""
    text = _URL_USERINFO.sub(r"\1***@", str(text))
    for secret in sorted(_KNOWN.union(v for v in values if v and len(v) >= 3 and v != "EMPTY"), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text
