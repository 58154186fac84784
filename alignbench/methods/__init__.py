"""Alignment methods behind one adapter interface (see :mod:`alignbench.methods.base`)."""
