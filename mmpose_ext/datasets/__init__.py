"""Datasets of mmpose_ext: the synthetic human-figure generator (no registered modules)."""
