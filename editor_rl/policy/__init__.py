"""The policy's world: the editing environment, rollouts of a policy in it, loading a trained policy and the one shipped in the package. No Ray."""
