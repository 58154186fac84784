"""A user's chat world, built locally (no hub): a tiny Qwen2 instruct model with a ChatML template that
starts with its BOS while its tokenizer also adds one (the double-BOS trap), special tokens, no pad token and
``generation_config.eos_token_id`` a list; a tiny Llama sequence-classification reward model with a
*different* tokenizer and a Zephyr-style template whose rendering ends with EOS (the pad = EOS trap); conversational
preference data (multi-turn included)."""

from __future__ import annotations

from pathlib import Path

import torch

CHATML = ("{{ bos_token }}{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ "
          "m['content'] }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
ZEPHYR = ("{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}</s>{% endfor %}"
          "{% if add_generation_prompt %}<|assistant|>\n{% endif %}")
TOPICS = ["the weather", "a recipe", "my café order", "naïve Bayes", "the Zürich tram", "a haiku", "π and τ",
          "emoji 🙂"]


def conversations(n: int = 40) -> list[dict]:
    """Explicit-prompt conversational pairs; every third one is multi-turn (earlier turns in the prompt)."""
    rows = []
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)]
        prompt = [{"role": "user", "content": f"Tell me about {topic} (#{i})."}]
        if i % 3 == 0:
            prompt = [{"role": "system", "content": "You are kind."}, *prompt,
                      {"role": "assistant", "content": f"Sure, {topic} it is."},
                      {"role": "user", "content": "Go on, briefly."}]
        rows.append({"prompt": prompt,
                     "chosen": [{"role": "assistant", "content": f"Happy to help with {topic}: a careful answer {i}."}],
                     "rejected": [{"role": "assistant", "content": f"No. {topic} is boring {i}!!"}]})
    return rows


def implicit(rows: list[dict]) -> list[dict]:
    """The same pairs stored as HH-RLHF is: {chosen, rejected} whole conversations."""
    return [{"chosen": r["prompt"] + r["chosen"], "rejected": r["prompt"] + r["rejected"]} for r in rows]


def test_prompts(n: int = 8) -> list[dict]:
    return [{"prompt_id": f"t{i}",
             "prompt": [{"role": "user", "content": f"What about {TOPICS[i % len(TOPICS)]} today?"}],
             "reference": f"Glad you asked about {TOPICS[i % len(TOPICS)]}."} for i in range(n)]


def _texts(rows) -> list[str]:
    return [m["content"] for r in rows for k in ("prompt", "chosen", "rejected") for m in r[k]] + [
        "user",
        "assistant",
        "system",
    ]


def _bpe(texts, specials: list[str], vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts,
                            trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=False,
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return tok


def chat_tokenizer():
    """ChatML, BOS <s> added by the tokenizer *and* by the template, EOS <|endoftext|>, no pad token."""
    from tokenizers import processors
    from transformers import PreTrainedTokenizerFast

    tok = _bpe(_texts(conversations()), ["<s>", "<|endoftext|>", "<|im_start|>", "<|im_end|>"], 500)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A",
                                                       special_tokens=[("<s>", tok.token_to_id("<s>"))])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="<|endoftext|>")
    fast.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    fast.chat_template = CHATML
    return fast


def write_chat_policy(directory: Path, seed: int = 0) -> Path:
    from transformers import Qwen2Config, Qwen2ForCausalLM

    tok = chat_tokenizer()
    im_end, eot = tok.convert_tokens_to_ids(["<|im_end|>", "<|endoftext|>"])
    config = Qwen2Config(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4,
                         num_key_value_heads=2, max_position_embeddings=512, tie_word_embeddings=True,
                         bos_token_id=tok.bos_token_id, eos_token_id=[im_end, eot], pad_token_id=None)
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    model.generation_config.eos_token_id = [im_end, eot]
    model.generation_config.pad_token_id = None
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    tok.save_pretrained(directory)
    return directory


def write_hf_reward_model(directory: Path, seed: int = 1) -> Path:
    """A Llama sequence classifier with one label, its own BPE tokenizer and a Zephyr-style template, no pad token."""
    from transformers import LlamaConfig, LlamaForSequenceClassification, PreTrainedTokenizerFast

    tok = _bpe(_texts(conversations()) + ["something else entirely"],
               ["</s>", "<|user|>", "<|assistant|>", "<|system|>"], 420)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="</s>")
    fast.add_special_tokens({"additional_special_tokens": ["<|user|>", "<|assistant|>", "<|system|>"]})
    fast.chat_template = ZEPHYR
    config = LlamaConfig(vocab_size=len(fast), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4,
                         num_key_value_heads=2, max_position_embeddings=512, num_labels=1, pad_token_id=None,
                         eos_token_id=fast.eos_token_id)
    torch.manual_seed(seed)
    model = LlamaForSequenceClassification(config)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    fast.save_pretrained(directory)
    return directory


def write_chat_data(directory: Path, n_pairs: int = 40, n_test: int = 8) -> dict[str, Path]:
    """The pairs as Parquet (explicit prompt) and as a save_to_disk directory (implicit prompt, HH's layout);
    the test prompts (prompt-only with references) as Parquet."""
    from datasets import Dataset

    directory.mkdir(parents=True, exist_ok=True)
    rows = conversations(n_pairs)
    paths = {"parquet": directory / "pairs.parquet", "disk": directory / "pairs_disk",
             "prompts": directory / "prompts.parquet"}
    Dataset.from_list(rows).to_parquet(str(paths["parquet"]))
    Dataset.from_list(implicit(rows)).save_to_disk(str(paths["disk"]))
    Dataset.from_list(test_prompts(n_test)).to_parquet(str(paths["prompts"]))
    return paths
