"""The stages of a full comparison, in the order ``pipeline.run_comparison`` calls them:
``prepare`` (task, SFT, reward model) → ``fit_and_generate`` (every method × seed) → ``evaluate`` → ``publish``."""
