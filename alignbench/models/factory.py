"""Build the policy a task needs: from a local Hugging Face path, or a tiny GPT-2 from a config."""

from __future__ import annotations

from ..tasks.base import TaskData
from .policy import Policy, ResponseFormat, TinyGPT2Spec, build_tiny_gpt2, load_policy
from .tokenizers import build_symbol_tokenizer, train_bpe_tokenizer


def response_format_for(
    task: TaskData, tokenizer, max_new_tokens: int = 64, max_prompt_tokens: int = 256
) -> ResponseFormat:
    if task.response_alphabet is not None:
        ids = tokenizer.convert_tokens_to_ids(list(task.response_alphabet))
        if task.response_length is None:  # variable length: the alphabet and EOS, one step past the longest
            return ResponseFormat(allowed_token_ids=ids + [tokenizer.eos_token_id],
                                  max_new_tokens=task.max_response_length + 1, max_prompt_tokens=max_prompt_tokens)
        return ResponseFormat(allowed_token_ids=ids, fixed_length=task.response_length,
                              max_new_tokens=task.response_length, max_prompt_tokens=max_prompt_tokens)
    return ResponseFormat(max_new_tokens=max_new_tokens, max_prompt_tokens=max_prompt_tokens)


def build_policy(task: TaskData, model_path: str | None, spec: TinyGPT2Spec, seed: int = 0, tokenizer_vocab: int = 4096,
                 max_new_tokens: int = 64, max_prompt_tokens: int = 256) -> Policy:
    if model_path:
        policy = load_policy(model_path)
        policy.format = response_format_for(task, policy.tokenizer, max_new_tokens, max_prompt_tokens)
        return policy
    if task.response_alphabet is not None:
        tokenizer = build_symbol_tokenizer(task.meta["vocabulary"])
    else:
        if task.train_unpaired or task.meta.get("prompt_only"):
            texts = [p.text for p in task.train_prompts] + [x.completion for x in task.train_unpaired]
        else:
            texts = (
                [p.prompt for p in task.train_pairs]
                + [p.chosen for p in task.train_pairs]
                + [p.rejected for p in task.train_pairs]
            )
        tokenizer = train_bpe_tokenizer(texts, vocab_size=tokenizer_vocab)
    fmt = response_format_for(task, tokenizer, max_new_tokens, max_prompt_tokens)
    spec.n_positions = max(spec.n_positions, fmt.max_prompt_tokens + fmt.max_new_tokens + 1)
    model = build_tiny_gpt2(len(tokenizer), spec, seed=seed)
    return Policy(model, tokenizer, fmt)
