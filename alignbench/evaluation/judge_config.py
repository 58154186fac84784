"""LLM-judge configs: one YAML per judge in ``judges/`` (model, endpoint, template, parser, …)."""

from __future__ import annotations

import importlib.resources

import hashlib
import os
import re
import socket
import time
import urllib.request
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..errors import AlignbenchError
from ..safe_yaml import load_yaml_file, read_text
from ..secrets import redact, remember

PLACEHOLDER = re.compile(r"\{\{(prompt|response_a|response_b)\}\}")
# Single-answer grading (mode: single): one turn, or the two-turn variant (template_multi_turn).
SINGLE_PLACEHOLDER = re.compile(r"\{\{(question|answer|question_1|answer_1|question_2|answer_2)\}\}")
REQUIRED = {"pairwise": {"prompt", "response_a", "response_b"}, "single": {"question", "answer"},
            "single-multi-turn": {"question_1", "answer_1", "question_2", "answer_2"}}

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
KEY_PREFIXES = ("sk-", "sk_", "pk_", "rk_", "hf_", "gsk_", "xai-", "key-", "AIza", "ghp_", "github_pat_")
BACKOFF_MAX = 30.0  # the longest wait between two attempts (llm_judge honours Retry-After up to this)


def redact_url(url: str) -> str:
    """``http://user:pw@host/v1`` → ``http://***@host/v1``: credentials in a URL never reach a file or a screen."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<malformed URL>"
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]))


def url_secrets(url: str) -> list[str]:
    """The user-info of a URL (user, password): strings to scrub from error messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    return [s for s in (parts.password, parts.username) if s and len(s) >= 3]


def looks_like_a_key(value: str) -> bool:
    """True for what a pasted API key looks like, rather than the name of an environment variable: a
    variable's name has words (underscores) or is short; a token of 16+ letters and digits has neither."""
    if not ENV_NAME.fullmatch(value) or value.startswith(KEY_PREFIXES):
        return True
    mixed = any(c.isdigit() for c in value) and any(c.islower() for c in value)
    return mixed and (len(value) >= 32 or len(value) >= 16 and "_" not in value)


class JudgeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)  # the typing rule of config._Strict

    model: str
    base_url: str
    api_key_env: str | None = None  # None: a local server that needs no key
    template: str = ""
    # Arena-Hard-Auto's judge: the system prompt and prompt template read from the user's copy of its
    # config file (config/judge_config.yaml, config/arena-hard-v0.1.yaml), instead of 'template'.
    arena_hard_config: str | None = None
    mode: Literal["pairwise", "single"] = "pairwise"
    template_multi_turn: str | None = None  # mode single: the template for a two-turn conversation
    parser: Literal["brackets", "preferred", "more-helpful", "rating", "fastchat-rating", "arena-hard"] = "brackets"
    # Optional prices (any currency, per million tokens) for the cost figure of `alignbench audit-judge`.
    price_per_million_prompt_tokens: float | None = Field(None, ge=0)
    price_per_million_completion_tokens: float | None = Field(None, ge=0)
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(1024, gt=0)
    max_concurrency: int = Field(8, gt=0, le=1024)
    both_orders: bool = True
    timeout: float = Field(60.0, gt=0, le=3600)  # one attempt, whole: connect, headers and body
    max_retries: int = Field(6, ge=0, le=100)
    total_timeout: float | None = Field(None, gt=0, le=86400)  # one judgment, retries and waits included
    seed: int = 0
    name: str = ""
    source: str = ""
    template_text: str = ""
    multi_turn_text: str = ""
    system_text: str = ""  # a system message sent before every prompt (Arena-Hard's judge)

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, v: str) -> str:
        try:
            parts = urlsplit(v)
            parts.port  # noqa: B018 - raises ValueError on a malformed port
        except ValueError:
            raise ValueError("not a well-formed URL") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"must be an http:// or https:// URL with a host, got {redact_url(v)!r}")
        return v

    @field_validator("api_key_env")
    @classmethod
    def _api_key_env(cls, v: str | None) -> str | None:
        if v is not None and looks_like_a_key(v):
            raise ValueError("must name an environment variable that holds the key; "
                             "the value given looks like a key itself (not shown); put the key in the environment")
        return v

    @property
    def judgment_budget(self) -> float:
        """Seconds one judgment may take, every attempt and every wait between attempts included."""
        if self.total_timeout is not None:
            return self.total_timeout
        return self.timeout * (self.max_retries + 1) + BACKOFF_MAX * self.max_retries

    @property
    def template_sha(self) -> str:
        text = self.template_text + ("\x00" + self.multi_turn_text if self.multi_turn_text else "") + \
            ("\x01" + self.system_text if self.system_text else "")
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    def api_key(self) -> str:
        if not self.api_key_env:
            return "EMPTY"
        key = os.environ.get(self.api_key_env)
        remember(key)
        if not key:
            raise AlignbenchError(f"{self.source}: api_key_env: environment variable {self.api_key_env} is not set")
        return key

    def identity(self) -> str:
        return f"{self.model}@{redact_url(self.base_url)} t={self.temperature:g}"

    def render(self, prompt: str, response_a: str, response_b: str) -> str:
        """Fill the template in one pass: text inside a response is never itself substituted."""
        values = {"prompt": prompt, "response_a": response_a, "response_b": response_b}
        return PLACEHOLDER.sub(lambda m: values[m.group(1)], self.template_text)

    def render_single(self, questions: list[str], answers: list[str]) -> str:
        """The single-answer grading prompt: one turn, or both turns with the two-turn template."""
        if len(questions) == 1:
            values, text = {"question": questions[0], "answer": answers[0]}, self.template_text
        else:
            values = {"question_1": questions[0], "answer_1": answers[0], "question_2": questions[1],
                      "answer_2": answers[1]}
            text = self.multi_turn_text
        return SINGLE_PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)

    def price(self, prompt_tokens: int, completion_tokens: int) -> float | None:
        if self.price_per_million_prompt_tokens is None and self.price_per_million_completion_tokens is None:
            return None
        return (prompt_tokens * (self.price_per_million_prompt_tokens or 0.0)
                + completion_tokens * (self.price_per_million_completion_tokens or 0.0)) / 1e6


def builtin_judges_dir() -> Path:
    """The judges shipped with alignbench: package data (``alignbench/judges`` links the repository's
    ``judges/``, and a wheel carries the files themselves)."""
    return Path(str(importlib.resources.files("alignbench") / "judges"))


def resolve_judge_path(name: str) -> Path:
    """A YAML path, or a bare judge name looked up in ./judges/ then among the judges alignbench ships."""
    p = Path(name)
    if p.suffix in (".yaml", ".yml") and p.exists():
        return p
    candidates = [Path("judges") / f"{name}.yaml", builtin_judges_dir() / f"{name}.yaml"]
    for c in candidates:
        if c.exists():
            return c
    raise AlignbenchError(f"judge {name!r}: no such YAML file and no judges/{name}.yaml")


def load_judge(name: str, base_url: str | None = None) -> JudgeConfig:
    path = resolve_judge_path(name)
    data = load_yaml_file(path, "judge config")
    if not isinstance(data, dict):
        raise AlignbenchError(f"{path}: a judge config must be a mapping")
    if base_url:
        data["base_url"] = base_url
    try:
        cfg = JudgeConfig.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        raise AlignbenchError(f"{path}: setting '{'.'.join(str(x) for x in err['loc'])}': {err['msg']}") from None
    if cfg.mode == "single" and cfg.parser not in ("rating", "fastchat-rating"):
        raise AlignbenchError(f"{path}: setting 'parser': mode single needs parser 'rating' or "
                              f"'fastchat-rating', got {cfg.parser!r}")
    if cfg.mode == "pairwise" and cfg.parser in ("rating", "fastchat-rating"):
        raise AlignbenchError(f"{path}: setting 'parser': 'rating' is for mode single; "
                              "pairwise judges need a verdict parser")
    if cfg.arena_hard_config is not None:
        if cfg.template or cfg.mode != "pairwise" or cfg.parser != "arena-hard":
            raise AlignbenchError(f"{path}: setting 'arena_hard_config' takes mode pairwise, "
                                  "parser arena-hard and no 'template'")
        system, text = _arena_hard_prompt(path, cfg.arena_hard_config)
        return cfg.model_copy(update={"template_text": text, "system_text": system, "name": path.stem,
                                      "source": str(path)})
    if not cfg.template:
        raise AlignbenchError(f"{path}: setting 'template' is missing (or give 'arena_hard_config')")
    if cfg.parser == "arena-hard":
        raise AlignbenchError(f"{path}: setting 'parser': 'arena-hard' goes with 'arena_hard_config'")
    text = _read_template(path, "template", cfg.template, cfg.mode)
    multi = (
        _read_template(path, "template_multi_turn", cfg.template_multi_turn, "single-multi-turn")
        if cfg.template_multi_turn
        else ""
    )
    remember(*url_secrets(cfg.base_url))
    return cfg.model_copy(update={"template_text": text, "multi_turn_text": multi, "name": path.stem,
                                  "source": str(path)})


ARENA_HARD_FIELDS = {"{question_1}": "{{prompt}}", "{answer_1}": "{{response_a}}", "{answer_2}": "{{response_b}}"}


def _arena_hard_prompt(path: Path, value: str) -> tuple[str, str]:
    """(system prompt, template) from an Arena-Hard-Auto v0.1 judge config: its ``system_prompt`` and
    ``prompt_template`` (a string or a one-element list) with {question_1}, {answer_1}, {answer_2}."""
    cpath = (path.parent / value) if not Path(value).is_absolute() else Path(value)
    if not cpath.exists():
        raise AlignbenchError(f"{path}: setting 'arena_hard_config': {cpath} does not exist "
                              "(arena-hard's config/judge_config.yaml)")
    data = load_yaml_file(cpath, "Arena-Hard judge config")
    if not isinstance(data, dict):
        raise AlignbenchError(f"{cpath}: expected a mapping with system_prompt and "
                              "prompt_template (Arena-Hard judge config)")
    system, template = data.get("system_prompt"), data.get("prompt_template")
    if isinstance(template, list) and len(template) == 1:
        template = template[0]
    if not isinstance(system, str) or not isinstance(template, str):
        raise AlignbenchError(f"{cpath}: needs a string 'system_prompt' and a one-turn 'prompt_template' "
                              "(arena-hard v0.1's config; v2.0 keeps its system prompts in Python)")
    missing = [k for k in ARENA_HARD_FIELDS if k not in template]
    if missing:
        raise AlignbenchError(f"{cpath}: prompt_template lacks {', '.join(missing)}")
    for k, v in ARENA_HARD_FIELDS.items():
        template = template.replace(k, v)
    return system, template


def _read_template(path: Path, setting: str, value: str, kind: str) -> str:
    tpath = (path.parent / value) if not Path(value).is_absolute() else Path(value)
    if not tpath.exists():
        raise AlignbenchError(f"{path}: setting '{setting}': {tpath} does not exist")
    text = read_text(tpath, setting)
    pattern = PLACEHOLDER if kind == "pairwise" else SINGLE_PLACEHOLDER
    missing = REQUIRED[kind] - set(pattern.findall(text))
    if missing:
        raise AlignbenchError(f"{tpath}: template lacks placeholder(s) "
                              f"{', '.join('{{' + m + '}}' for m in sorted(missing))}")
    return text


CONNECT_WAIT_S = 3.0


def check_reachable(cfg: JudgeConfig, wait_s: float = CONNECT_WAIT_S) -> None:
    """Fail fast, naming the URL, when nothing listens at the judge's host and port (bounded wait)."""
    url = urlsplit(cfg.base_url)  # an http(s) URL with a host: checked when the judge YAML loads
    if urllib.request.getproxies().get(url.scheme):
        return  # the client goes through the proxy; a direct connect says nothing
    port = url.port or (443 if url.scheme == "https" else 80)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            with socket.create_connection(
                (url.hostname, port), timeout=max(0.1, min(2.0, deadline - time.monotonic()))
            ):
                return
        except OSError as e:
            if time.monotonic() >= deadline:
                hint = (
                    " (start one with `alignbench serve-judge`)" if url.hostname in ("127.0.0.1", "localhost") else ""
                )
                raise AlignbenchError(f"judge {cfg.name}: cannot reach {redact(cfg.base_url)} after {wait_s:g} s "
                                      f"({e.strerror or type(e).__name__}){hint}; "
                                      f"base_url is set in {cfg.source}") from None
            time.sleep(0.2)
