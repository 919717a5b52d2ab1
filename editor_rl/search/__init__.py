"""The search over edits: the DP planner over the beat graph and the length promise it keeps. No Ray."""
