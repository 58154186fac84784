"""The one leaderboard row: every column typed, documented and in its CSV order.

Every producer of rows (a full run, judge-only re-evaluation, the alpaca_eval import, a grid's seed
summaries, single-answer grading) builds a :class:`LeaderboardRow`; ``leaderboards/README.md`` explains
each column at length (a test checks that every column here is described there).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import AlignbenchError


def _c(doc: str):
    return Field(None, description=doc)


class LeaderboardRow(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=True)

    # --- the fixed columns, in their published order -----------------------------------------------
    task: str = Field(description="the task the prompts come from")
    method: str = Field(description="the generator judged (config label, alpaca_eval's generator_2, a model id)")
    evaluator: str = Field(description="who judged: reward-model, gold-reward, llm:<judge>, "
                                       "llm-single:<judge>, alpaca_eval")
    baseline: str | None = _c("what the method is compared against (dataset, sft, a reference generator); "
                              "none for single-answer grading")
    n_prompts: int | None = _c("prompts with a usable verdict")
    win_rate: float | None = _c("mean per-prompt score (win 1, tie ½, loss 0) × 100")
    ci_low: float | None = _c("lower end of the prompt-bootstrap interval of win_rate (%)")
    ci_high: float | None = _c("upper end of the prompt-bootstrap interval of win_rate (%)")
    std_error: float | None = _c("sample sd (ddof 1) of the per-prompt scores / √n × 100")
    wins: int | None = _c("prompts scored 1 (alpaca_eval: preference above ½)")
    ties: int | None = _c("prompts scored strictly between 0 and 1 (alpaca_eval: exactly ½)")
    losses: int | None = _c("prompts scored 0 (alpaca_eval: preference below ½)")
    consistency: float | None = _c("LLM judges: % of prompts usable in both orders with the same verdict on content")
    n_parse_failures: int | None = _c("prompts or annotations without a usable verdict (excluded)")
    mean_reward: float | None = _c("pointwise evaluators: mean score of the method's responses")
    kl_to_sft: float | None = _c("KL(π‖π_sft) per prompt, nats (see kl_kind)")
    judge: str | None = _c("the evaluator's identity (RM backbone and loss, true reward, model@url t=…)")
    template_sha: str | None = _c("LLM judges: first 16 hex digits of the template's SHA-256")
    seed: str | None = _c("the seed(s) behind the row, comma-separated")
    run_id: str | None = _c("the run's id, the judge output directory or the annotations file")
    # --- further columns, in CSV order -----------------------------------------------------------------
    run: str | None = _c("short name of the run the row came from (kept when runs are combined)")
    kl_to_sft_se: float | None = _c("standard error of a sampled kl_to_sft")
    kl_kind: str | None = _c("exact, sampled or upper-bound")
    n_truncated: int | None = _c("reward-model rows: responses cut to fit the reward model's context")
    first_position_rate: float | None = _c("LLM judges: % of decisive verdicts for whichever response was shown first")
    n_seeds: int | None = _c("seeds aggregated into the row")
    seed_spread: float | None = _c("sd (ddof 1) of the per-seed win rates; 0 with one seed")
    exact_reward: float | None = _c("oracle: exact expected true reward")
    kl_to_target: float | None = _c("oracle: exact KL(π‖π*_β) to the run's target")
    kl_to_own_target: float | None = _c("oracle: exact KL to the method's own target")
    target_beta: float | None = _c("β of the method's own target")
    beta: float | None = _c("the run's β")
    one_order_win_rate: float | None = _c("LLM judges: the win rate of the method-first order alone")
    n_request_failures: int | None = _c("LLM judges: requests that failed after retries")
    n_unparsed_verdicts: int | None = _c("LLM judges: verdicts (over both orders) the parser could not read")
    mean_score: float | None = _c("single-answer grading: mean rating")
    score_ci_low: float | None = _c("single-answer grading: lower end of the rating's interval")
    score_ci_high: float | None = _c("single-answer grading: upper end of the rating's interval")
    score_std_error: float | None = _c("single-answer grading: standard error of the ratings")
    score_distribution: str | None = _c("single-answer grading: count of each rating")
    n_ratings: int | None = _c("single-answer grading: usable ratings")
    mean_score_turn_1: float | None = _c("single-answer grading: mean rating of first turns")
    mean_score_turn_2: float | None = _c("single-answer grading: mean rating of second turns")
    reward_regret: float | None = _c("oracle: the exact optimum's reward at the method's KL minus its exact reward")
    lc_win_rate: float | None = _c("length-controlled win rate (%)")
    lc_ci_low: float | None = _c("lower end of lc_win_rate's interval (%)")
    lc_ci_high: float | None = _c("upper end of lc_win_rate's interval (%)")
    lc_std_error: float | None = _c("alpaca_eval imports: sem of the per-prompt LC predictions × 100 (alpaca_eval's "
                                    "lc_standard_error when lc_method is alpaca_eval)")
    lc_method: str | None = _c("where lc_win_rate's instruction difficulty came from: "
                               "alpaca_eval, estimated or length-only")
    arena_hard_score: float | None = _c("Arena-Hard judgments: arena-hard's score (Bradley–Terry "
                                        "win rate against the baseline, %)")
    arena_hard_ci_low: float | None = _c("lower end of arena-hard's 95% bootstrap interval over battles (%)")
    arena_hard_ci_high: float | None = _c("upper end of arena-hard's 95% bootstrap interval over battles (%)")

    def as_dict(self) -> dict:
        return self.model_dump()


ALL_COLUMNS: list[str] = list(LeaderboardRow.model_fields)
COLUMNS: list[str] = ALL_COLUMNS[: ALL_COLUMNS.index("run_id") + 1]  # the fixed columns every leaderboard starts with
EXTRA: list[str] = ALL_COLUMNS[len(COLUMNS):]


def make_row(source: str = "row", **values) -> LeaderboardRow:
    """A row from keyword values; a wrong column or type is a one-line error naming ``source``."""
    try:
        return LeaderboardRow(**values)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise AlignbenchError(f"{source}: column {where}: {err['msg']}") from None
