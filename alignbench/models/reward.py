"""Reward models: a scalar head on a transformer backbone, saved and loaded from a directory.

Every reward model exposes ``scores(prompts, outputs) -> Tensor`` (differentiable, for training)
and ``as_reward_fn()`` (trlx convention, for methods and evaluators). ``load_reward_fn(path)``
dispatches on the ``kind`` written in ``reward_model.json``.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import torch
from torch import nn
from transformers import AutoModel, AutoTokenizer

from ..errors import AlignbenchError
from ..io import atomic_write_json, atomic_write_torch
from ..registry import REWARD_KINDS, check_entry_name
from ..tasks.chat import as_messages
from .logprobs import build_batch
from .reward_base import RewardModelBase
from .tokenizers import encode_texts

POOLINGS = ("last", "sum", "next-token")


def register_reward_kind(cls):
    """A built-in kind must be the class ``alignbench.registry.REWARD_KINDS`` maps its ``kind`` to; a class from
    outside alignbench is added under its kind (or name it by dotted path in reward_model.json, no decorator)."""
    if cls.__module__.startswith("alignbench."):
        check_entry_name(REWARD_KINDS, cls.kind, cls)
    else:
        REWARD_KINDS.add(cls.kind, cls)
    return cls


@register_reward_kind
class CausalLMRewardModel(RewardModelBase):
    """A GPT-2-style backbone (the policy's architecture) with a linear head on the last token."""

    kind = "causal-lm-head"
    score_batch_size = 1024  # short sequences: bigger batches cut per-call overhead (3× on the oracle)

    def __init__(self, backbone, tokenizer, max_prompt_tokens: int = 256, max_response_tokens: int = 64,
                 pooling: str = "last"):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
        self.pooling = pooling
        self.backbone = backbone
        self.tokenizer = tokenizer
        out = backbone.config.vocab_size if pooling == "next-token" else 1
        self.head = nn.Linear(backbone.config.hidden_size, out)
        nn.init.zeros_(self.head.bias)
        nn.init.normal_(self.head.weight, std=0.02)
        self.max_prompt_tokens = max_prompt_tokens
        self.max_response_tokens = max_response_tokens

    @classmethod
    def from_policy(cls, policy, pooling: str = "last"):
        backbone = copy.deepcopy(
            policy.model.transformer if hasattr(policy.model, "transformer") else policy.model.base_model
        )
        return cls(backbone, policy.tokenizer, policy.format.max_prompt_tokens, policy.format.max_new_tokens, pooling)

    @property
    def context_length(self) -> int:
        cfg = self.backbone.config
        return int(getattr(cfg, "n_positions", None) or getattr(cfg, "max_position_embeddings"))

    def prompt_token_ids(self, prompts) -> list[list[int]]:
        tok = self.tokenizer
        start = [tok.bos_token_id] if tok.bos_token_id is not None else []  # a chat tokenizer may have no BOS (Qwen)
        return [start + ids[-(self.max_prompt_tokens - 1):] for ids in encode_texts(tok, prompts)]

    def response_token_ids(self, outputs) -> list[list[int]]:
        """The *whole* response + EOS — not cut at the policy's ``max_new_tokens``: a judge must see what
        was written. Only the backbone's context cuts it (:meth:`_ids_and_cuts`)."""
        tok = self.tokenizer
        eos = [tok.eos_token_id]
        return [ids + eos for ids in encode_texts(tok, outputs)]

    def _ids_and_cuts(self, prompts, outputs):
        p_ids, r_ids, cuts = self.prompt_token_ids(prompts), [], []
        for p, r in zip(p_ids, self.response_token_ids(outputs)):
            room = self.context_length - len(p)
            cuts.append(len(r) > room)
            r_ids.append(r[:room])
        return p_ids, r_ids, cuts

    def _encode(self, prompts, outputs):
        p_ids, r_ids, _ = self._ids_and_cuts(prompts, outputs)
        return build_batch(p_ids, r_ids, self.tokenizer.pad_token_id)

    def truncated(self, prompts, outputs):
        return self._ids_and_cuts(prompts, outputs)[2]

    def scores(self, prompts, outputs):
        input_ids, attn, rmask = self._encode(prompts, outputs)
        device = self.head.weight.device
        hidden = self.backbone(input_ids=input_ids.to(device), attention_mask=attn.to(device)).last_hidden_state
        return self.pool(hidden, input_ids, attn, rmask)

    def pool(self, hidden, input_ids, attn, rmask):
        """One reward per row from the backbone's hidden states ``[B, T, H]`` of the batch."""
        device = hidden.device
        if self.pooling == "last":
            last = attn.sum(-1).to(device) - 1
            h = hidden[torch.arange(hidden.shape[0], device=device), last]
            return self.head(h).squeeze(-1)
        rmask = rmask.to(device)
        if self.pooling == "next-token":
            # r(x, y) = Σ_t q(x, y_<t)[y_t]: the head reads each response token's reward from the state
            # that predicts it, as the LM head reads its logit — features an SFT backbone already has.
            q = self.head(hidden[:, :-1])
            per_token = q.gather(-1, input_ids[:, 1:].to(device).unsqueeze(-1)).squeeze(-1)
            return (per_token * rmask[:, 1:]).sum(-1)
        # "sum": a reward per response token, summed
        per_token = self.head(hidden).squeeze(-1)
        return (per_token * rmask).sum(-1)

    def save(self, directory):
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.backbone.save_pretrained(directory / "backbone", safe_serialization=True)
        self.tokenizer.save_pretrained(directory / "tokenizer")
        atomic_write_torch(directory / "head.pt", self.head.state_dict())
        atomic_write_json(
            directory / "reward_model.json",
            {"kind": self.kind, "max_prompt_tokens": self.max_prompt_tokens,
             "max_response_tokens": self.max_response_tokens, "pooling": self.pooling},
        )

    @classmethod
    def load(cls, directory, meta):
        directory = Path(directory)
        backbone = AutoModel.from_pretrained(directory / "backbone", local_files_only=True)
        tok = AutoTokenizer.from_pretrained(directory / "tokenizer", local_files_only=True)
        rm = cls(backbone, tok, meta["max_prompt_tokens"], meta["max_response_tokens"], meta.get("pooling", "last"))
        rm.head.load_state_dict(torch.load(directory / "head.pt", weights_only=True))
        return rm


def load_reward_model(path) -> RewardModelBase:
    path = Path(path)
    meta_path = path / "reward_model.json"
    if not meta_path.exists():
        if is_hf_sequence_classifier(path):
            return HFSequenceRewardModel.load(path)
        raise AlignbenchError(f"{path}: not a saved reward model (no reward_model.json, and not a Hugging Face "
                              "…ForSequenceClassification directory)")
    meta = json.loads(meta_path.read_text())
    kind = meta.get("kind")
    if not isinstance(kind, str):
        raise AlignbenchError(f"{meta_path}: setting 'kind' must be a reward model kind "
                              f"({', '.join(REWARD_KINDS.names())}), got {kind!r}")
    try:
        # a built-in kind, or the user's (package.module:Class or an alignbench.reward_kinds entry point)
        cls = REWARD_KINDS.get(kind)
    except AlignbenchError as e:
        raise AlignbenchError(f"{meta_path}: {e}") from None
    return cls.load(path, meta)


def load_reward_fn(path):
    """A trlx-style ``reward_fn`` from a reward model saved in ``path``."""
    return load_reward_model(path).as_reward_fn()


@register_reward_kind
class HFSequenceRewardModel(RewardModelBase):
    """A Hugging Face ``AutoModelForSequenceClassification`` with one label (what TRL's ``RewardTrainer`` saves
    and public reward models are), with its own tokenizer and chat template: every (prompt, response) is
    re-rendered and re-tokenised for it, never handed the policy's ids. The score is the logit at the last
    real token of each right-padded row (located by length, so a pad that equals EOS cannot move it)."""

    kind = "hf-sequence-classification"
    score_batch_size = 32

    def __init__(self, model, tokenizer, source: str = ""):
        super().__init__()
        self.model, self.tokenizer, self.source = model, tokenizer, source
        if int(getattr(model.config, "num_labels", 1)) != 1:
            raise AlignbenchError(f"{source}: a reward model has one label; this sequence "
                                  f"classifier has {model.config.num_labels}")
        self.body = getattr(model, getattr(model, "base_model_prefix", ""), None)
        if self.body is None or not isinstance(getattr(model, "score", None), nn.Module):
            raise AlignbenchError(f"{source}: {type(model).__name__} is not a decoder reward model with a 'score' head "
                                  "(Llama, Qwen2, Mistral, GPT-2 … ForSequenceClassification)")

    @property
    def context_length(self) -> int:
        cfg = self.model.config
        return int(getattr(cfg, "max_position_embeddings", None) or getattr(cfg, "n_positions", None) or 2048)

    def token_ids(self, prompts, outputs) -> list[list[int]]:
        tok = self.tokenizer
        if getattr(tok, "chat_template", None):
            return [list(tok.apply_chat_template(as_messages(p) + [{"role": "assistant", "content": o}], tokenize=True,
                                                 return_dict=True)["input_ids"]) for p, o in zip(prompts, outputs)]
        return [tok(str(p) + o)["input_ids"] for p, o in zip(prompts, outputs)]

    def truncated(self, prompts, outputs):
        return [len(ids) > self.context_length for ids in self.token_ids(prompts, outputs)]

    def scores(self, prompts, outputs):
        rows = [ids[: self.context_length] for ids in self.token_ids(prompts, outputs)]
        T = max(len(r) for r in rows)
        input_ids = torch.zeros((len(rows), T), dtype=torch.long)
        attn = torch.zeros((len(rows), T), dtype=torch.long)
        for b, r in enumerate(rows):
            input_ids[b, : len(r)] = torch.tensor(r)
            attn[b, : len(r)] = 1
        device = next(self.model.parameters()).device
        hidden = self.body(input_ids=input_ids.to(device), attention_mask=attn.to(device)).last_hidden_state
        last = attn.sum(-1).to(device) - 1
        return self.model.score(hidden[torch.arange(len(rows), device=device), last]).squeeze(-1).float()

    def save(self, directory):
        directory = Path(directory)
        self.model.save_pretrained(directory, safe_serialization=True)
        self.tokenizer.save_pretrained(directory)

    @classmethod
    def load(cls, directory, meta=None):
        from transformers import AutoModelForSequenceClassification

        directory = Path(directory)
        try:
            tok = AutoTokenizer.from_pretrained(directory, local_files_only=True)
            model = AutoModelForSequenceClassification.from_pretrained(directory, local_files_only=True)
        except (OSError, ValueError) as e:
            raise AlignbenchError("cannot load a sequence-classification reward model from "
                                  f"{directory}: {str(e).splitlines()[0]}") from None
        model.eval()
        return cls(model, tok, str(directory))


def is_hf_sequence_classifier(path) -> bool:
    """A Hugging Face model directory whose config names a ``…ForSequenceClassification`` architecture."""
    config = Path(path) / "config.json"
    if not config.is_file():
        return False
    try:
        archs = json.loads(config.read_text()).get("architectures") or []
    except ValueError:
        return False
    return any(str(a).endswith("ForSequenceClassification") for a in archs)
