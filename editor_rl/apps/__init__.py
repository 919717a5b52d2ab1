"""The drivers people run: the CLI, the quickstart, evaluation, Tune sweeps."""
