"""Grids, dataset sources and observation masks."""
