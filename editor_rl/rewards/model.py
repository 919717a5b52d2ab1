"""The learned reward: a transformer that scores an edit, with an uncertainty.

Input: the edit as its sequence of output beats (:mod:`editor_rl.rewards.sequence`): each beat's
125 source features, two seam descriptors, and an embedding of the action that produced it
(the emitting keep/loop action, the cut taken just before it, or END on the last beat of a faded
edit; 9 actions + padding = 10 types). A sinusoidal position encoding covers
up to ``max_beats`` (500) output beats; a context token carries the edit's length relative to the
song and to the requested target. Features are standardised with statistics over a reference set,
stored in the checkpoint.

Model: a pre-norm transformer encoder (3 layers, 4 heads, d = 256 by default) whose context-token
output feeds ``ensemble`` linear heads; each head's score is bounded to [-10, 10] by
``10·tanh(x/10)``. The reward is the heads' mean, its uncertainty their standard deviation (the
heads are trained on different bootstrap weights of the pairs).

Longer edits than ``max_beats`` are scored in consecutive chunks of ``max_beats`` beats (each with
positions from 0 and the whole edit's context) and the chunk scores averaged, weighted by length.

A checkpoint (``torch.save`` of plain tensors and dicts, loadable with ``weights_only=True``) holds
the model config, weights, normaliser, tie threshold and training metrics; :func:`load_scorer`
needs nothing from the training code.
"""

from __future__ import annotations

import io
import math
from dataclasses import asdict
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np
import torch
from torch import nn

from editor_rl.config import RewardModelConfig
from editor_rl.errors import EditorRLError
from editor_rl.rewards.sequence import CONTEXT_DIM, INPUT_DIM, N_TOKENS, PAD_TOKEN, EditSequence, beat_tokens, edit_sequence, order_of  # noqa: F401 (re-exported)

CHECKPOINT_FORMAT = "editor-rl-reward/1"
SCORE_BOUND = 10.0


class Normalizer(NamedTuple):
    """Per-dimension standardisation of the input features.

    Attributes
    ----------
    mean, std : np.ndarray [shape=(127,), dtype=float32]
    """

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, sequences: Sequence[EditSequence]) -> "Normalizer":
        """Statistics over every beat of the reference ``sequences``."""
        x = np.concatenate([s.features for s in sequences]).astype(np.float64)
        return cls(mean=x.mean(axis=0).astype(np.float32), std=(x.std(axis=0) + 1e-3).astype(np.float32))

    def apply(self, features: np.ndarray) -> np.ndarray:
        """Standardise and clip to ±8."""
        return np.clip((features - self.mean) / self.std, -8.0, 8.0).astype(np.float32)


def _positions(n: int, d: int) -> torch.Tensor:
    pos = torch.arange(n, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, d, 2, dtype=torch.float32) * (-math.log(10000.0) / d))
    pe = torch.zeros(n, d)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)[:, : d // 2]
    return pe


class RewardModel(nn.Module):
    """Transformer reward model (see the module docstring).

    Parameters
    ----------
    config : RewardModelConfig
    """

    def __init__(self, config: RewardModelConfig) -> None:
        super().__init__()
        self.config = config
        d = config.d_model
        self.inp = nn.Linear(INPUT_DIM, d)
        self.tok = nn.Embedding(N_TOKENS, d, padding_idx=PAD_TOKEN)
        self.ctx = nn.Linear(CONTEXT_DIM, d)
        self.cls = nn.Parameter(torch.zeros(1, 1, d))
        self.register_buffer("pe", _positions(config.max_beats, d), persistent=False)
        layer = nn.TransformerEncoderLayer(d, config.n_heads, config.d_ff, config.dropout, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, config.n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.heads = nn.Linear(d, config.ensemble)

    def forward(self, features: torch.Tensor, tokens: torch.Tensor, context: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        """Scores of a padded batch.

        Parameters
        ----------
        features : torch.Tensor [shape=(B, L, 127)]
            Normalised features.
        tokens : torch.Tensor [shape=(B, L), dtype=long]
        context : torch.Tensor [shape=(B, 3)]
        pad : torch.Tensor [shape=(B, L), dtype=bool]
            True at padding.

        Returns
        -------
        scores : torch.Tensor [shape=(B, ensemble)]
            Each head's score in [-10, 10].
        """
        L = features.shape[1]
        x = self.inp(features) + self.tok(tokens) + self.pe[:L]
        cls = self.cls.expand(features.shape[0], 1, -1) + self.ctx(context)[:, None, :]
        mask = torch.cat([torch.zeros_like(pad[:, :1]), pad], dim=1)
        h = self.encoder(torch.cat([cls, x], dim=1), src_key_padding_mask=mask)
        raw = self.heads(self.norm(h[:, 0]))
        return SCORE_BOUND * torch.tanh(raw / SCORE_BOUND)


def chunk(seq: EditSequence, max_beats: int) -> list[EditSequence]:
    """Split a sequence longer than ``max_beats`` into consecutive chunks (same context)."""
    n = len(seq.tokens)
    if n <= max_beats:
        return [seq]
    return [EditSequence(seq.features[i : i + max_beats], seq.tokens[i : i + max_beats], seq.context) for i in range(0, n, max_beats)]


def collate(seqs: Sequence[EditSequence], norm: Normalizer, *, device: str | torch.device = "cpu") -> tuple[torch.Tensor, ...]:
    """Pad sequences into a batch: features (B, L, 127), tokens (B, L), context (B, 3), pad (B, L)."""
    L = max(len(s.tokens) for s in seqs)
    B = len(seqs)
    f = np.zeros((B, L, INPUT_DIM), np.float32)
    t = np.full((B, L), PAD_TOKEN, np.int64)
    pad = np.ones((B, L), bool)
    for i, s in enumerate(seqs):
        n = len(s.tokens)
        f[i, :n] = norm.apply(s.features)
        t[i, :n] = s.tokens
        pad[i, :n] = False
    ctx = np.stack([s.context for s in seqs]).astype(np.float32)
    return tuple(torch.from_numpy(a).to(device) for a in (f, t, ctx, pad))


class RewardScorer:
    """A trained model ready to score edits (eval mode, no gradients).

    Attributes
    ----------
    model : RewardModel
    normalizer : Normalizer
    metrics : dict
        Training metrics stored in the checkpoint.
    tie_threshold : float
        The learned Rao–Kupper θ.
    """

    def __init__(self, model: RewardModel, normalizer: Normalizer, *, metrics: dict | None = None, tie_threshold: float = 0.5, device: str = "cpu") -> None:
        self.model = model.to(device).eval()
        self.normalizer = normalizer
        self.metrics = metrics or {}
        self.tie_threshold = tie_threshold
        self.device = device

    @torch.no_grad()
    def score(self, sequences: Sequence[EditSequence], *, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
        """Reward and uncertainty of each sequence.

        Returns
        -------
        reward, std : np.ndarray [shape=(N,)]
            Mean and standard deviation over the ensemble heads (length-weighted over chunks).
        """
        pieces, owner, weight = [], [], []
        for i, s in enumerate(sequences):
            for c in chunk(s, self.model.config.max_beats):
                pieces.append(c)
                owner.append(i)
                weight.append(len(c.tokens))
        heads = np.zeros((len(pieces), self.model.config.ensemble), np.float64)
        order = np.argsort([len(p.tokens) for p in pieces], kind="stable")  # similar lengths batch together
        for k in range(0, len(order), batch_size):
            idx = order[k : k + batch_size]
            out = self.model(*collate([pieces[j] for j in idx], self.normalizer, device=self.device))
            heads[idx] = out.float().cpu().numpy()
        owner_a, w = np.asarray(owner), np.asarray(weight, np.float64)
        n = len(sequences)
        tot = np.bincount(owner_a, weights=w, minlength=n)
        mean_heads = np.stack([np.bincount(owner_a, weights=w * heads[:, e], minlength=n) for e in range(heads.shape[1])], axis=1) / tot[:, None]
        return mean_heads.mean(axis=1), mean_heads.std(axis=1)

    def save(self, path: str | Path, *, extra: dict | None = None) -> Path:
        """Write the checkpoint (atomically)."""
        return save_checkpoint(path, self.model, self.normalizer, metrics=self.metrics, tie_threshold=self.tie_threshold, extra=extra)


def save_checkpoint(path: str | Path, model: RewardModel, normalizer: Normalizer, *, metrics: dict, tie_threshold: float, extra: dict | None = None) -> Path:
    """Write a self-contained checkpoint: config, weights, normaliser, θ, metrics."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "model_config": asdict(model.config),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "normalizer": {"mean": torch.from_numpy(normalizer.mean), "std": torch.from_numpy(normalizer.std)},
        "tie_threshold": float(tie_threshold),
        "metrics": metrics,
        "extra": extra or {},
    }
    tmp = p.with_name(f".{p.name}.tmp")
    torch.save(payload, tmp)
    tmp.replace(p)
    return p


def load_scorer(source: str | Path | bytes, *, device: str = "cpu") -> RewardScorer:
    """Load a checkpoint written by :func:`save_checkpoint` (a path, or the file's bytes).

    Raises
    ------
    EditorRLError
        Missing file, or not an editor-rl reward checkpoint.
    """
    if isinstance(source, bytes):
        name, handle = "checkpoint", io.BytesIO(source)
    else:
        p = Path(source)
        if not p.is_file():
            raise EditorRLError(f"reward checkpoint {str(p)!r} does not exist")
        name, handle = p.name, p
    try:
        payload = torch.load(handle, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file
        raise EditorRLError(f"{name}: not a readable reward checkpoint ({exc.__class__.__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise EditorRLError(f"{name}: not an editor-rl reward checkpoint (format {payload.get('format') if isinstance(payload, dict) else None!r})")
    cfg = RewardModelConfig(**payload["model_config"])
    model = RewardModel(cfg)
    model.load_state_dict(payload["state_dict"])
    norm = Normalizer(mean=payload["normalizer"]["mean"].numpy(), std=payload["normalizer"]["std"].numpy())
    return RewardScorer(model, norm, metrics=payload.get("metrics", {}), tie_threshold=payload.get("tie_threshold", 0.5), device=device)
