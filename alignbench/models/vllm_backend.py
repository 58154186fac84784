"""vLLM generation backend (optional extra ``vllm``: the package is imported only when this backend is built).

Same contract as :class:`~alignbench.models.generation.TransformersBackend`: ``n`` samples per
prompt with a seed, from the policy's exact distribution (temperature 1, no top-k/top-p), with the
response alphabet and fixed length enforced when the task has them.

One engine per run, built once from the first policy sampled (its saved directory, or a snapshot
written then). Methods train their policy in place between samples (BRAIn, RAFT, online DPO, expert
iteration rounds, PPO rollouts, then the test samples), so the engine keeps the ``weights_version``
it holds and, when the policy handed to ``sample`` has another one (every optimiser step advances
it; a different policy has its own), pushes that policy's weights into the engine in place, as
TRL's colocated vLLM does: ``model.load_weights(named tensors)`` on the engine's model, then
``reset_prefix_cache()`` so no cached prefix from the old weights is reused.
"""

from __future__ import annotations

import copy
import os
import tempfile
from pathlib import Path

from ..distributed import on_main_then_share
from ..errors import AlignbenchError
from .samples import Samples


def hf_named_weights(model):
    """The model's weights under Hugging Face names, each tied tensor once (what vLLM's ``load_weights`` takes):
    unwrapped from DDP, and with LoRA adapters merged into a copy."""
    model = getattr(model, "module", model)
    if hasattr(model, "merge_and_unload"):
        model = copy.deepcopy(model).merge_and_unload()
    return [(name, p.detach()) for name, p in model.named_parameters()]


def shapes(named_weights) -> dict[str, tuple]:
    """What must match for one engine to take a policy's weights: every weight's name and shape."""
    return {name: tuple(t.shape) for name, t in named_weights}


class VLLMBackend:
    def __init__(self, gpu_memory_utilization: float = 0.5, dtype: str = "auto", max_model_len: int | None = None,
                 tensor_parallel_size: int = 1):
        try:
            import vllm  # noqa: F401  optional: the vllm extra (GPU)
        except ImportError:
            raise AlignbenchError("generation.backend 'vllm' needs the optional extra: pip "
                                  "install 'alignbench[vllm]' (GPU)") from None
        if tensor_parallel_size != 1:
            raise AlignbenchError("generation.backend 'vllm': tensor_parallel_size "
                                  f"{tensor_parallel_size}: the engine follows training by loading weights into its "
                                  "in-process model, which needs one GPU per engine (1)")
        self.engine_kwargs = {"gpu_memory_utilization": gpu_memory_utilization, "dtype": dtype}
        if max_model_len:
            self.engine_kwargs["max_model_len"] = max_model_len
        self.llm = None
        self.shapes: dict[str, tuple] | None = None
        self.loaded_version: int | None = None  # the weights_version the engine holds
        self.weight_syncs = 0
        self._snapshot: tempfile.TemporaryDirectory | None = None

    def _build_engine(self, policy) -> None:
        from vllm import LLM  # optional: the vllm extra

        source = getattr(policy, "source_dir", None)
        if source and Path(source).is_dir():
            model_dir = str(source)
        else:
            self._snapshot = tempfile.TemporaryDirectory(prefix="alignbench-vllm-")
            model_dir = self._snapshot.name
            policy.save(model_dir)
        # The engine core in this process (no engine subprocess), so its model is reachable for load_weights.
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        self.llm = LLM(model=model_dir, tokenizer=model_dir, seed=0, **self.engine_kwargs)
        self.shapes = shapes(hf_named_weights(policy.model))
        self.loaded_version = policy.weights_version

    def follow(self, policy):
        """The engine, holding ``policy``'s current weights: built on first use, weights pushed when they changed."""
        if self.llm is None:
            self._build_engine(policy)
        elif policy.weights_version != self.loaded_version:
            weights = hf_named_weights(policy.model)
            if shapes(weights) != self.shapes:
                raise AlignbenchError("generation.backend 'vllm': one engine per run serves one model architecture; "
                                      "this policy's weights differ in names or shapes from the "
                                      "model the engine was built for")
            engine_model = self.llm.llm_engine.model_executor.driver_worker.model_runner.model
            engine_model.load_weights(weights)
            self.llm.reset_prefix_cache()
            self.loaded_version = policy.weights_version
            self.weight_syncs += 1
        return self.llm

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
        # Under `accelerate launch` one engine, on rank 0; the other processes receive its samples.
        return on_main_then_share(lambda: self._sample(policy, prompts, n, seed, temperature))

    def _sample(self, policy, prompts: list[str], n: int, seed: int, temperature: float) -> Samples:
        llm = self.follow(policy)
        params = self.sampling_params(policy, n, seed, temperature)
        requests = [{"prompt_token_ids": policy.encode_prompt(p)} for p in prompts]
        results = llm.generate(requests, params, use_tqdm=False)
        eos = policy.tokenizer.eos_token_id
        if policy.format.fixed_length is None:
            # vLLM drops the stop token from token_ids; put the one that stopped it (stop_reason) back so log-probs
            # score the same sequence.
            token_ids = [
                [
                    list(c.token_ids) + [_stop_token(c, eos)]
                    if len(c.token_ids) < policy.format.max_new_tokens
                    else list(c.token_ids)
                    for c in r.outputs
                ]
                for r in results
            ]
        else:
            token_ids = [[list(c.token_ids) for c in r.outputs] for r in results]
        texts = [[policy.decode_response(ids) for ids in row] for row in token_ids]
        return Samples(texts=texts, token_ids=token_ids)


def _stop_token(output, eos: int) -> int:
    """The token that ended a vLLM completion: its ``stop_reason`` when a stop id did (EOS when the model's own EOS
    did)."""
    reason = getattr(output, "stop_reason", None)
    return reason if isinstance(reason, int) and not isinstance(reason, bool) else eos
