"""Ray Serve: the policy endpoint, the human-feedback service and its web UI (one FastAPI ingress)."""
