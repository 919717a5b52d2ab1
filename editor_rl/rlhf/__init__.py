"""The RLHF cycle with people: judgements in the service become a better served policy."""
