"""A user's world off the built-in path: JSONL preference data and a local Hugging Face GPT-2 with
dropout 0.1, a large (padded) vocabulary and a byte-level BPE tokenizer whose decode → strip →
encode does not round-trip (sampled byte tokens decode to U+FFFD)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

TOPICS = ["the weather", "a recipe", "my café order", "naïve Bayes", "the Zürich tram", "a haiku", "π and τ",
          "emoji 🙂"]


def user_pairs(n: int = 48) -> list[dict]:
    rows = []
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)]
        rows.append({
            "prompt": f"Human: tell me about {topic} (#{i})\n\nAssistant:",
            "chosen": f" Happy to help with {topic}: here is a careful, kind answer number {i}.",
            "rejected": f" No. {topic} is boring and so are you {i}!!",
        })
    return rows


def write_user_data(directory: Path, n_pairs: int = 48, n_test: int = 12) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    pairs = directory / "pairs.jsonl"
    pairs.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in user_pairs(n_pairs)), encoding="utf-8")
    prompts = directory / "prompts.jsonl"
    prompts.write_text("".join(
        json.dumps({"prompt_id": f"t{i}", "prompt": f"Human: what about {TOPICS[i % len(TOPICS)]} today?\n\nAssistant:",
                    "reference": f" Glad you asked about {TOPICS[i % len(TOPICS)]}."}, ensure_ascii=False) + "\n"
        for i in range(n_test)), encoding="utf-8")
    return pairs, prompts


def write_hf_gpt2(directory: Path, vocab_size: int = 32_000, dropout: float = 0.1, seed: int = 0) -> Path:
    """Save a randomly initialised GPT-2 with dropout and a locally trained BPE tokenizer."""
    from transformers import GPT2Config, GPT2LMHeadModel

    from alignbench.models.tokenizers import train_bpe_tokenizer

    texts = [r[k] for r in user_pairs(64) for k in ("prompt", "chosen", "rejected")]
    tok = train_bpe_tokenizer(texts, vocab_size=600)
    config = GPT2Config(vocab_size=vocab_size, n_positions=256, n_embd=32, n_layer=2, n_head=2,
                        resid_pdrop=dropout, embd_pdrop=dropout, attn_pdrop=dropout,
                        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(config)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    tok.save_pretrained(directory)
    return directory
