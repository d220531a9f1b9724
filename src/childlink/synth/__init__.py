"""Synthetic county generator: realistic fake department exports with ground truth."""
