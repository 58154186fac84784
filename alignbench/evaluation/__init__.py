"""Evaluators: reward-model and LLM-judge win rates, the judgment store, alpaca_eval interop."""
