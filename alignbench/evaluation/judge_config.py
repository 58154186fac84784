"""LLM-judge configs: one YAML per judge in ``judges/`` (model, endpoint, template, parser, …)."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import AlignbenchError

PLACEHOLDER = re.compile(r"\{\{(prompt|response_a|response_b)\}\}")


class JudgeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str
    base_url: str
    api_key_env: str | None = None  # None: a local server that needs no key
    template: str
    parser: Literal["brackets", "preferred", "more-helpful"] = "brackets"
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(1024, gt=0)
    max_concurrency: int = Field(8, gt=0, le=1024)
    both_orders: bool = True
    timeout: float = Field(60.0, gt=0)
    max_retries: int = Field(6, ge=0, le=100)
    seed: int = 0
    name: str = ""
    source: str = ""
    template_text: str = ""

    @property
    def template_sha(self) -> str:
        return hashlib.sha256(self.template_text.encode("utf-8")).hexdigest()[:16]

    def api_key(self) -> str:
        if not self.api_key_env:
            return "EMPTY"
        key = os.environ.get(self.api_key_env)
        if not key:
            raise AlignbenchError(f"{self.source}: api_key_env: environment variable {self.api_key_env} is not set")
        return key

    def identity(self) -> str:
        return f"{self.model}@{self.base_url} t={self.temperature:g}"

    def render(self, prompt: str, response_a: str, response_b: str) -> str:
        """Fill the template in one pass: text inside a response is never itself substituted."""
        values = {"prompt": prompt, "response_a": response_a, "response_b": response_b}
        return PLACEHOLDER.sub(lambda m: values[m.group(1)], self.template_text)


def resolve_judge_path(name: str) -> Path:
    """A YAML path, or a bare judge name looked up in ./judges/ then in the repository's judges/."""
    p = Path(name)
    if p.suffix in (".yaml", ".yml") and p.exists():
        return p
    candidates = [Path("judges") / f"{name}.yaml", Path(__file__).resolve().parents[2] / "judges" / f"{name}.yaml"]
    for c in candidates:
        if c.exists():
            return c
    raise AlignbenchError(f"judge {name!r}: no such YAML file and no judges/{name}.yaml")


def load_judge(name: str, base_url: str | None = None) -> JudgeConfig:
    path = resolve_judge_path(name)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise AlignbenchError(f"{path}: bad YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise AlignbenchError(f"{path}: a judge config must be a mapping")
    if base_url:
        data["base_url"] = base_url
    try:
        cfg = JudgeConfig.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        raise AlignbenchError(f"{path}: setting '{'.'.join(str(x) for x in err['loc'])}': {err['msg']}") from None
    tpath = (path.parent / cfg.template) if not Path(cfg.template).is_absolute() else Path(cfg.template)
    if not tpath.exists():
        raise AlignbenchError(f"{path}: setting 'template': {tpath} does not exist")
    text = tpath.read_text(encoding="utf-8")
    missing = {"prompt", "response_a", "response_b"} - set(PLACEHOLDER.findall(text))
    if missing:
        raise AlignbenchError(f"{tpath}: template lacks placeholder(s) {', '.join('{{' + m + '}}' for m in sorted(missing))}")
    return cfg.model_copy(update={"template_text": text, "name": path.stem, "source": str(path)})
