"""The LESR search loop, its events and its executors."""
