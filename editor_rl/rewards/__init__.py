"""Rewards: dense musical rewards (pure NumPy), later the learned reward model and its Ray pool."""
