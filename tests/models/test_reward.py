"""A Hugging Face sequence-classification reward model (one label) with its own tokenizer and chat template:
text is re-rendered and re-tokenised for it, scored at each row's last real token in eval mode without grad,
batched; ``rm:<dir>`` and ``reward_model.path`` accept it; outputs are also written for alpaca_eval and FastChat."""

from __future__ import annotations

import pytest
import torch

from alignbench.config import validate_config
from alignbench.errors import AlignbenchError
from alignbench.evaluation.evaluators import EvaluatorSources, build_evaluator
from alignbench.evaluation.outputs import OutputRecord, align_outputs, load_outputs, write_submission_files
from alignbench.models.reward import HFSequenceRewardModel, load_reward_model
from alignbench.tasks.chat import Chat
from chat_fixtures import write_hf_reward_model


@pytest.fixture(scope="module")
def rm_dir(tmp_path_factory):
    return write_hf_reward_model(tmp_path_factory.mktemp("rm") / "rm")


PROMPTS = [Chat([{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Tell me about the weather."},
                 {"role": "assistant", "content": "Sure."}, {"role": "user", "content": "More?"}]), "Tell me a haiku"]
OUTPUTS = ["It is sunny and warm, a careful answer.", "No</s>"]


def _own_forward(rm, prompt, output) -> float:
    """The checkpoint's own forward on one unpadded row rendered by its own template (the reference value)."""
    msgs = (list(prompt.messages) if isinstance(prompt, Chat) else [{"role": "user", "content": prompt}])
    ids = rm.tokenizer.apply_chat_template(msgs + [{"role": "assistant", "content": output}], tokenize=True,
                                           return_dict=True)["input_ids"]
    with torch.no_grad():
        return float(rm.model(input_ids=torch.tensor([ids])).logits[0, 0])


def test_scores_are_the_models_own_on_its_own_template_alone_or_batched(rm_dir):
    rm = load_reward_model(rm_dir)
    assert isinstance(rm, HFSequenceRewardModel) and rm.tokenizer.pad_token is None
    rm.train()  # as a caller might leave it: scoring must switch to eval and back
    scores = rm.score(PROMPTS, OUTPUTS)
    assert rm.training
    for s, p, o in zip(scores, PROMPTS, OUTPUTS):
        assert s == pytest.approx(_own_forward(rm, p, o), abs=1e-5)
    # the rendering is the reward model's template (Zephyr), with every earlier turn
    text = rm.tokenizer.decode(rm.token_ids(PROMPTS[:1], OUTPUTS[:1])[0])
    assert (
        text.startswith("<|system|>\nBe kind.</s>")
        and "<|assistant|>\nSure.</s>" in text
        and "<|im_start|>" not in text
    )
    # a batch padded after a short row leaves its score alone, though "No</s>" ends in the EOS a pad = EOS would be
    alone = rm.score(PROMPTS[1:], OUTPUTS[1:])[0]
    assert alone == pytest.approx(scores[1], abs=1e-5)


def test_hf_pooling_with_pad_equal_to_eos_is_the_trap_this_avoids(rm_dir):
    """The checkpoint's own pooling finds the last token by comparing ids with pad_token_id: with pad = EOS
    (what loaders set when there is none) a row ending in EOS — every row of this template — is scored at the
    wrong token. The fixture really has that trap; alignbench's scores are the unpadded forward's."""
    rm = load_reward_model(rm_dir)
    ids = rm.token_ids(PROMPTS[1:], OUTPUTS[1:])[0]
    eos = rm.tokenizer.eos_token_id
    assert ids[-1] == eos
    rm.model.config.pad_token_id = eos
    try:
        with torch.no_grad():
            trapped = float(rm.model(input_ids=torch.tensor([ids])).logits[0, 0])
    finally:
        rm.model.config.pad_token_id = None
    right = _own_forward(rm, PROMPTS[1], OUTPUTS[1])
    assert abs(trapped - right) > 1e-4
    assert rm.score(PROMPTS[1:], OUTPUTS[1:])[0] == pytest.approx(right, abs=1e-5)


def test_rm_evaluator_and_truncation(rm_dir):
    evaluator = build_evaluator(f"rm:{rm_dir}", EvaluatorSources())
    assert evaluator.identity == f"rm:{rm_dir}"
    rm = evaluator.reward_model
    huge = "tram " * (rm.context_length + 5)
    assert rm.truncated(["q", "q"], ["short", huge]) == [False, True]
    assert len(rm.score(["q"], [huge])) == 1
    # a chat prompt survives the outputs file: the evaluator re-renders the conversation, not its transcript
    # as read back from outputs.jsonl
    text, kept = str(PROMPTS[0]), {"messages": [dict(x) for x in PROMPTS[0].messages]}
    m, r = [OutputRecord("a", text, "fine", "m", 0, kept)], [OutputRecord("a", text, "bad", "r", 0, kept)]
    comp = evaluator.compare(align_outputs(m, r), "m", "r", 0)
    assert comp.method_reward[0] == pytest.approx(_own_forward(rm, PROMPTS[0], "fine"), abs=1e-5)


def test_not_a_reward_model_is_one_line(tmp_path):
    (tmp_path / "config.json").write_text('{"architectures": ["LlamaForCausalLM"]}')
    with pytest.raises(AlignbenchError, match="not a saved reward model .*ForSequenceClassification"):
        load_reward_model(tmp_path)


def test_config_takes_sft_steps_zero_and_a_reward_model_path(rm_dir):
    cfg = validate_config({"sft": {"steps": 0}, "reward_model": {"path": str(rm_dir)}, "methods": {"sft": {}}})
    assert cfg.sft.steps == 0 and cfg.reward_model.path == str(rm_dir)
    with pytest.raises(AlignbenchError, match="setting 'sft.steps'"):
        validate_config({"sft": {"steps": -1}, "methods": {"sft": {}}})


def test_outputs_are_written_for_alpaca_eval_and_fastchat_unchanged(tmp_path):
    records = [OutputRecord(f"p{i}", f"Question {i}?", f"Answer {i}.", "dpo", 0) for i in range(3)]
    files = write_submission_files(tmp_path, records)
    alpaca = load_outputs(files["alpaca_eval"])
    assert [(a.prompt, a.output, a.generator) for a in alpaca] == [(r.prompt, r.output, "dpo") for r in records]
    fastchat = load_outputs(files["fastchat"])
    assert [(a.prompt_id, a.prompt, a.output, a.generator) for a in fastchat] == [
        (r.prompt_id, r.prompt, r.output, "dpo") for r in records
    ]
