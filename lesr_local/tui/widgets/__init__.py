"""Reusable widgets of the lesr-local app."""
