"""Experiments on trainings: the paired final evaluation, ablations, transfers and their statistics."""
