"""PPO on RLlib with the learned reward in the loop (Ray lives here)."""
