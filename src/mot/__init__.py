"""Merge-of-Thought distillation: a reproducible workflow (see README)."""
__version__ = "0.1.0"
