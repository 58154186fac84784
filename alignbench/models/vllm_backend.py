"""vLLM generation backend (optional extra ``vllm``; imported only when selected).

Same contract as :class:`~alignbench.models.generation.TransformersBackend`: ``n`` samples per
prompt with a seed, from the policy's exact distribution (temperature 1, no top-k/top-p), with the
response alphabet and fixed length enforced when the task has them. The policy's weights reach
vLLM through a directory: the one it was loaded from, or a snapshot written once per policy.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from ..errors import AlignbenchError
from .generation import Samples


class VLLMBackend:
    def __init__(self, gpu_memory_utilization: float = 0.5, dtype: str = "auto", max_model_len: int | None = None,
                 tensor_parallel_size: int = 1):
        try:
            import vllm  # noqa: F401  optional: the vllm extra (GPU)
        except ImportError:
            raise AlignbenchError("generation.backend 'vllm' needs the optional extra: pip install 'alignbench[vllm]' (GPU)") from None
        self.engine_kwargs = {"gpu_memory_utilization": gpu_memory_utilization, "dtype": dtype,
                              "tensor_parallel_size": tensor_parallel_size}
        if max_model_len:
            self.engine_kwargs["max_model_len"] = max_model_len
        self._engines: dict[str, object] = {}
        self._snapshots: dict[int, tempfile.TemporaryDirectory] = {}

    def weights_dir(self, policy) -> str:
        """Where vLLM reads this policy's weights: its saved directory, else a snapshot written now."""
        source = getattr(policy, "source_dir", None)
        if source and Path(source).is_dir():
            return str(source)
        key = id(policy)
        if key not in self._snapshots:
            tmp = tempfile.TemporaryDirectory(prefix="alignbench-vllm-")
            policy.model.save_pretrained(tmp.name, safe_serialization=True)
            policy.tokenizer.save_pretrained(tmp.name)
            self._snapshots[key] = tmp
        return self._snapshots[key].name

    def engine(self, model_dir: str):
        if model_dir not in self._engines:
            from vllm import LLM  # optional: the vllm extra

            self._engines[model_dir] = LLM(model=model_dir, tokenizer=model_dir, seed=0, **self.engine_kwargs)
        return self._engines[model_dir]

    def sampling_params(self, policy, n: int, seed: int, temperature: float = 1.0):
        from vllm import SamplingParams  # optional: the vllm extra

        fmt = policy.format
        kwargs = dict(n=n, temperature=temperature, top_p=1.0, top_k=-1, seed=seed)
        if fmt.fixed_length is not None:
            kwargs.update(max_tokens=fmt.fixed_length, min_tokens=fmt.fixed_length, ignore_eos=True)
        else:
            kwargs.update(max_tokens=fmt.max_new_tokens, stop_token_ids=policy.stop_ids)
        if fmt.allowed_token_ids is not None:
            kwargs["allowed_token_ids"] = list(fmt.allowed_token_ids)
        return SamplingParams(**kwargs)

    def sample(self, policy, prompts: list[str], n: int, seed: int, temperature: float = 1.0) -> Samples:
        llm = self.engine(self.weights_dir(policy))
        params = self.sampling_params(policy, n, seed, temperature)
        requests = [{"prompt_token_ids": policy.encode_prompt(p)} for p in prompts]
        results = llm.generate(requests, params, use_tqdm=False)
        eos = policy.tokenizer.eos_token_id
        if policy.format.fixed_length is None:
            # vLLM drops the stop token from token_ids; put the one that stopped it (stop_reason) back so log-probs
            # score the same sequence.
            token_ids = [[list(c.token_ids) + [_stop_token(c, eos)]
                          if len(c.token_ids) < policy.format.max_new_tokens else list(c.token_ids) for c in r.outputs] for r in results]
        else:
            token_ids = [[list(c.token_ids) for c in r.outputs] for r in results]
        texts = [[policy.decode_response(ids) for ids in row] for row in token_ids]
        return Samples(texts=texts, token_ids=token_ids)


def _stop_token(output, eos: int) -> int:
    """The token that ended a vLLM completion: its ``stop_reason`` when a stop id did (EOS when the model's own EOS did)."""
    reason = getattr(output, "stop_reason", None)
    return reason if isinstance(reason, int) and not isinstance(reason, bool) else eos
