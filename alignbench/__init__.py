"""alignbench: train alignment methods side by side and judge them honestly."""

__version__ = "0.1.0"
