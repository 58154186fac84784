"""Tokenizers built locally: never downloaded from a hub."""

from __future__ import annotations

from typing import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

SPECIAL_TOKENS = ["[PAD]", "[BOS]", "[EOS]", "[UNK]"]


def _wrap(tok) -> PreTrainedTokenizerFast:
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="[PAD]",
        bos_token="[BOS]",
        eos_token="[EOS]",
        unk_token="[UNK]",
    )


def build_symbol_tokenizer(symbols: Iterable[str]) -> PreTrainedTokenizerFast:
    """A whitespace word-level tokenizer over a fixed symbol set (one symbol = one token)."""
    vocab = {t: i for i, t in enumerate(SPECIAL_TOKENS)}
    for s in symbols:
        if s not in vocab:
            vocab[s] = len(vocab)
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.decoder = decoders.WordPiece(prefix="##")  # joins tokens with spaces
    return _wrap(tok)


def train_bpe_tokenizer(
    texts: Iterable[str], vocab_size: int = 4096, min_frequency: int = 2
) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer trained on ``texts`` (deterministic for the same input)."""
    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(texts), trainer=trainer)
    return _wrap(tok)


def encode_texts(tokenizer, texts) -> list[list[int]]:
    """Token ids of each text without special tokens: one batched call over the distinct texts (the same ids as
    one call per text, at a fraction of the per-call Python cost)."""
    texts = list(texts)
    distinct = list(dict.fromkeys(texts))
    if not distinct:
        return []
    ids = dict(zip(distinct, tokenizer(distinct, add_special_tokens=False)["input_ids"]))
    return [list(ids[t]) for t in texts]
