"""Policies: a causal LM, its tokenizer, and the response constraints of the task."""

from __future__ import annotations

import copy
import itertools
import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ..errors import AlignbenchError
from ..io import atomic_write_json
from ..tasks.chat import as_messages
from .exact import exact_logprobs, variable_response_ids
from .generation import TransformersBackend
from .groups import GroupData, group_logprobs


@dataclass
class TinyGPT2Spec:
    """A GPT-2-style model built from a config (no pretrained weights)."""

    n_layer: int = 2
    n_embd: int = 64
    n_head: int = 4
    n_positions: int = 64
    # The exact (erf) GELU: these models are trained from scratch, and PyTorch's CPU kernel for GPT-2's tanh
    # approximation is ~4× slower than the erf one (5.7 vs 1.2 ms for 10,240 × 256 values, one thread), which cost
    # the tiny model a sixth of its run time. "gelu_pytorch_tanh" is GPT-2's own function as one kernel.
    activation: str = "gelu"


def build_tiny_gpt2(vocab_size: int, spec: TinyGPT2Spec, seed: int = 0):
    # lazy: leaderboard → frontier → exact → generation imports this module; transformers' GPT-2 would add ~3 s there
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        vocab_size=vocab_size,
        n_positions=spec.n_positions,
        n_embd=spec.n_embd,
        n_layer=spec.n_layer,
        n_head=spec.n_head,
        activation_function=spec.activation,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
    )
    torch.manual_seed(seed)
    return GPT2LMHeadModel(config)


@dataclass
class ResponseFormat:
    """How responses look. Fixed-length responses over an alphabet make exact enumeration possible."""

    allowed_token_ids: list[int] | None = None  # restrict response positions to these ids
    fixed_length: int | None = None  # every response has exactly this many tokens (no EOS)
    max_new_tokens: int = 64  # variable-length responses end at EOS or here
    max_prompt_tokens: int = 256  # longer prompts keep their last tokens


_weights_versions = itertools.count(1)
ENCODE_CACHE_ENTRIES = 1 << 17  # process-wide: a version names one state of one policy's weights


class Policy:
    """A causal LM + tokenizer + response format; what every method trains and generates with."""

    def __init__(self, model, tokenizer, response_format: ResponseFormat):
        self.model = model
        self.tokenizer = tokenizer
        self.format = response_format
        self._encoded: dict[tuple, tuple[int, ...] | str] = {}  # see _memo
        self.source_dir: Path | None = None  # set when loaded from disk and not modified since
        self.lora: dict | None = None  # when set, clones for training get LoRA adapters (peft)
        self.weights_version = next(_weights_versions)

    def weights_changed(self) -> None:
        """Mark the weights as changed in place (every optimiser step calls this): a backend holding its own
        copy of the weights (vLLM) reloads them when the version it last loaded is not this one."""
        self.weights_version = next(_weights_versions)
        self.source_dir = None  # the directory no longer holds these weights

    # --- encoding -------------------------------------------------------------------------
    # With a chat template the prompt is rendered with the generation prompt and a response as the assistant
    # turn that follows, exactly as TRL's DPO tokenization does (tests/tasks/test_chat.py checks the ids);
    # without one, the prompt is BOS + its text and a response its text + EOS.
    @property
    def chat(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))

    def _template_ids(self, messages, add_generation_prompt: bool = False) -> list[int]:
        # tokenize=True renders, then tokenises without adding special tokens: the template's own BOS only
        out = self.tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=add_generation_prompt,
                                                 return_dict=True)
        return list(out["input_ids"])

    # Methods encode the same prompts and responses over and over (a prompt per sample, a pair per epoch); one
    # tokenizer call costs ~40 µs of Python, so each text is encoded once per format and tokenizer.
    @property
    def format(self) -> ResponseFormat:
        return self._format

    @format.setter
    def format(self, value: ResponseFormat) -> None:
        self._format = value
        self._encoded = {}

    def _memo(self, key: tuple, compute):
        value = self._encoded.get(key)
        if value is None:
            if len(self._encoded) >= ENCODE_CACHE_ENTRIES:
                self._encoded.clear()
            value = self._encoded[key] = compute()
        return value

    def encode_prompt(self, prompt: str) -> list[int]:
        return list(self._memo(("prompt", prompt), lambda: tuple(self._encode_prompt(prompt))))

    def encode_response(self, response: str) -> list[int]:
        return list(self._memo(("response", response), lambda: tuple(self._encode_response(response))))

    def _encode_prompt(self, prompt: str) -> list[int]:
        if self.chat:
            ids = self._template_ids(as_messages(prompt), add_generation_prompt=True)
            keep = self.format.max_prompt_tokens
            if len(ids) > keep:  # keep the template's start (BOS) and the prompt's end
                ids = [ids[0]] + ids[-(keep - 1):] if ids[0] == self.tokenizer.bos_token_id else ids[-keep:]
            return ids
        ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        ids = ids[-(self.format.max_prompt_tokens - 1):] if self.format.max_prompt_tokens > 1 else []
        return [self.tokenizer.bos_token_id] + ids

    def _encode_response(self, response: str) -> list[int]:
        if self.chat:
            ids = self._assistant_turn(response)
            room = self.format.max_new_tokens
            if len(ids) > room:  # cut the text, keep the end-of-turn tokens
                tail = self._turn_end
                ids = ids[: max(room - len(tail), 0)] + tail
            return ids
        ids = self.tokenizer(response, add_special_tokens=False)["input_ids"]
        if self.format.fixed_length is not None:
            if len(ids) != self.format.fixed_length:
                raise AlignbenchError(
                    f"response {response!r} has {len(ids)} tokens; this task's responses have "
                    f"exactly {self.format.fixed_length}"
                )
            return ids
        return ids[: self.format.max_new_tokens - 1] + [self.tokenizer.eos_token_id]

    _STAND_IN = [{"role": "user", "content": "?"}]

    def _assistant_turn(self, response: str) -> list[int]:
        """The ids of ``response`` as the assistant turn after a prompt: the rendered conversation past the
        point where it and the prompt alone diverge (TRL's ``common_prefix_length``). The template renders an
        assistant turn the same after any prompt, so a one-turn stand-in prompt is used (cached)."""
        head = self._head
        full = self._template_ids(self._STAND_IN + [{"role": "assistant", "content": response}])
        n = 0
        while n < min(len(head), len(full)) and head[n] == full[n]:
            n += 1
        return full[n:]

    @property
    def _head(self) -> list[int]:
        if getattr(self, "_head_ids", None) is None:
            self._head_ids = self._template_ids(self._STAND_IN, add_generation_prompt=True)
        return self._head_ids

    @property
    def _turn_end(self) -> list[int]:
        """The ids the template closes an assistant turn with (ChatML: ``<|im_end|>`` and a newline)."""
        if getattr(self, "_turn_end_ids", None) is None:
            a, b = self._assistant_turn("a"), self._assistant_turn("b c")
            n = 0
            while n < min(len(a), len(b)) and a[-1 - n] == b[-1 - n]:
                n += 1
            self._turn_end_ids = a[len(a) - n:]
        return self._turn_end_ids

    @property
    def stop_ids(self) -> list[int]:
        """Ids that end a response: the tokenizer's EOS, the model's ``generation_config.eos_token_id`` (an id or
        a list) and, with a chat template, the special token that closes an assistant turn."""
        ids = [self.tokenizer.eos_token_id]
        gen = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        ids += gen if isinstance(gen, (list, tuple)) else [gen]
        if self.chat:
            special = set(self.tokenizer.all_special_ids)
            ids += [i for i in self._turn_end if i in special][:1]
        return list(dict.fromkeys(i for i in ids if i is not None))

    def control_ids(self) -> set[int]:
        """Special and added tokens (template markup such as ``<|im_start|>``) that never belong in output text."""
        ids = set(self.tokenizer.all_special_ids)
        if self.chat:
            ids |= set(getattr(self.tokenizer, "added_tokens_decoder", {}))
        return ids

    def decode_response(self, ids: list[int]) -> str:
        return self._memo(("decoded", tuple(ids)), lambda: self._decode_response(ids))

    def _decode_response(self, ids: list[int]) -> str:
        if self.format.fixed_length is not None:
            # read once: a tokenizer attribute costs µs
            drop = {self.tokenizer.eos_token_id, self.tokenizer.pad_token_id}
            ids = [i for i in ids if i not in drop]
            return " ".join(self.tokenizer.convert_ids_to_tokens(ids))
        stops = set(self.stop_ids)
        cut = next((k for k, i in enumerate(ids) if i in stops), len(ids))
        control = self.control_ids() | {self.tokenizer.pad_token_id}
        ids = [i for i in ids[:cut] if i not in control]
        return self.tokenizer.decode(ids, skip_special_tokens=True).strip()

    @property
    def pad_id(self) -> int:
        return self.tokenizer.pad_token_id

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def clone(self) -> "Policy":
        # no source_dir: it will train
        new = Policy(copy.deepcopy(self.model), self.tokenizer, copy.deepcopy(self.format))
        new.lora = self.lora
        if self.lora:
            new.model = apply_lora(new.model, self.lora)
        return new

    def n_params(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    # --- generation -----------------------------------------------------------------------
    def sample(self, prompts: list[str], n: int = 1, seed: int = 0, backend=None):
        """``n`` sampled responses per prompt, as text and as the token ids actually sampled (``Samples``)."""
        return (backend or TransformersBackend()).sample(self, prompts, n, seed)

    def generate(self, prompts: list[str], n: int = 1, seed: int = 0, backend=None) -> list[list[str]]:
        """``n`` sampled responses per prompt (text), reproducible for a seed."""
        return self.sample(prompts, n, seed, backend).texts

    def kl_to_reference(self, reference: "Policy", prompts: list[str], samples) -> dict:
        """Monte Carlo KL(π ‖ π_ref) from this policy's own samples, with its standard error.

        Scores the token ids that were sampled (never re-encoded text: BPE decode → encode does not
        round-trip, and a response cut at ``max_new_tokens`` has no EOS), in eval mode without gradients.
        """
        prompt_ids = [self.encode_prompt(p) for p in prompts]
        data = GroupData(prompt_ids, [list(row) for row in samples.token_ids])
        diff = (group_logprobs(self, data, grad=False) - group_logprobs(reference, data, grad=False)).double()
        per_prompt = diff.mean(dim=1)  # n samples of one prompt share its KL
        n = len(per_prompt)
        se = float(per_prompt.std(unbiased=True) / n**0.5) if n > 1 else float("nan")
        return {"kl_to_sft": float(per_prompt.mean()), "kl_to_sft_se": se, "kl_kind": "sampled",
                "kl_samples": int(diff.numel())}

    def exact_logprobs(self, prompts: list[str]):
        """``[P, N]`` log-probabilities of every response (fixed-alphabet tasks only), else None."""
        if self.format.allowed_token_ids is None:
            return None
        if self.format.fixed_length is None and variable_response_ids(self.format, self.tokenizer.eos_token_id) is None:
            return None

        return exact_logprobs(self, prompts)

    def exact_law(self, enumeration):
        """This policy's exact law on an ``ExactEnumeration``'s prompts, else None. Part of the policy
        interface: a wrapper (best-of-n) overrides it to reuse the enumeration's shared π_sft law and scores."""
        return self.exact_logprobs(enumeration.prompts)

    # --- persistence ----------------------------------------------------------------------
    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        tmp = directory.with_name(directory.name + ".partial")
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        model = self.model
        if hasattr(model, "merge_and_unload"):  # LoRA: hand off merged weights (vLLM, reload) in one directory
            model.save_pretrained(tmp / "adapter")
            model = copy.deepcopy(model).merge_and_unload()
        model.save_pretrained(tmp, safe_serialization=True)
        self.tokenizer.save_pretrained(tmp)
        atomic_write_json(tmp / "alignbench_policy.json", {"response_format": asdict(self.format)})
        if directory.exists():
            shutil.rmtree(directory)
        tmp.rename(directory)


def apply_lora(model, lora: dict):
    """Wrap ``model`` with LoRA adapters (peft); keys: r, alpha, dropout, target_modules."""
    try:
        from peft import LoraConfig, get_peft_model  # optional: the peft extra
    except ImportError:
        raise AlignbenchError("setting 'policy.lora' needs peft: pip install 'alignbench[peft]'") from None
    unknown = set(lora) - {"r", "alpha", "dropout", "target_modules"}
    if unknown:
        raise AlignbenchError(f"setting 'policy.lora': unknown key(s) {', '.join(sorted(unknown))} (r, "
                              "alpha, dropout, target_modules)")
    cfg = LoraConfig(
        r=int(lora.get("r", 8)),
        lora_alpha=int(lora.get("alpha", 16)),
        lora_dropout=float(lora.get("dropout", 0.0)),
        target_modules=lora.get("target_modules") or "all-linear",
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, cfg)


def load_policy(path: str | Path, response_format: ResponseFormat | None = None) -> Policy:
    """Load a policy from a local directory: one saved by alignbench, or any Hugging Face model path."""
    from transformers import AutoModelForCausalLM, AutoTokenizer  # lazy: as in build_tiny_gpt2

    path = Path(path)
    if not path.is_dir():
        raise AlignbenchError(f"model path {path} is not a directory (alignbench never "
                              "downloads models; give a local path)")
    meta = path / "alignbench_policy.json"
    if response_format is None:
        response_format = (
            ResponseFormat(**json.loads(meta.read_text())["response_format"]) if meta.exists() else ResponseFormat()
        )
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError) as e:
        raise AlignbenchError(f"cannot load a causal LM from {path}: {str(e).splitlines()[0]}") from None
    if tokenizer.pad_token_id is None:
        # Pad = EOS is safe here: padding is located by lengths (attention and response masks), never by
        # comparing ids with pad, so the EOS that ends a response is trained on and attended to.
        tokenizer.pad_token = tokenizer.eos_token
    if tokenizer.bos_token_id is None and not getattr(tokenizer, "chat_template", None):
        # the plain path starts prompts with BOS; a chat template brings its own start
        tokenizer.bos_token = tokenizer.eos_token
    if model.get_input_embeddings().num_embeddings < len(tokenizer):
        raise AlignbenchError(
            f"tokenizer in {path} has {len(tokenizer)} tokens but the model's embedding has "
            f"{model.get_input_embeddings().num_embeddings}: mismatched tokenizer"
        )
    policy = Policy(model, tokenizer, response_format)
    policy.source_dir = path  # generation backends that read weights from disk (vLLM) use it
    return policy
