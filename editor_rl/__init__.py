"""editor-rl: learn to edit music the way its listeners like it.

The pure layers (``audio``, ``edit``, ``env``, ``rewards.dense``, ``rewards.model``,
``preferences``) never import Ray; Ray lives at the edges (``corpus`` fan-out, ``rl``,
``serving``, ``rewards.pool``).
"""

__version__ = "0.1.0"
