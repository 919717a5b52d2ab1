"""The learned reward: an ensemble of transformers plus an explicit path of edit descriptors.

Input: the edit as its output beats (:mod:`editor_rl.rewards.sequence`): each beat's 125 source
features, seam and structure flags, and the action that produced it (9 actions + padding). Every
``beats_per_token`` consecutive output beats (4: one 4/4 bar) form one token — their standardised
features and one-hot actions concatenated and projected (a patch embedding), so no beat is averaged
away while attention runs over a quarter of the positions. Sinusoidal positions cover
``max_beats`` beats; a context token carries the edit's length relative to the song and to the
target.

Each of the ``ensemble`` members is an independent pre-norm transformer encoder (its own weights,
its own bootstrap sample of the pairs in training), computed together: every weight carries a
leading member dimension. A member's score is

    10 · tanh((α · transformer(edit) + w · descriptors(edit) + b) / 10)

where the descriptors (:mod:`editor_rl.rewards.descriptors`: length against the target, cuts and
where they fall, loops, opening and ending, the hook and sections kept, the energy arc, continuity
at the cuts) are standardised and ``w`` is a linear head: the explicit path a handful of
judgements can already fit, with the transformer for what the descriptors miss; ``α`` lets a
fine-tune quieten a pretrained transformer whose taste is not the new listener's. The reward is the
members' mean, its uncertainty their standard deviation.

Edits longer than ``max_beats`` are scored in consecutive chunks (each with the whole edit's context)
and the chunks' transformer scores averaged, weighted by length, before the mix — in training and
in scoring alike. On a CUDA device scoring runs in bf16 autocast (``precision="bf16"``), falling
back to fp32 elsewhere.

A checkpoint (``torch.save`` of plain tensors and dicts, loadable with ``weights_only=True``) holds
the model config, weights, normaliser, tie threshold and training metrics; :func:`load_scorer`
needs nothing from the training code.
"""

from __future__ import annotations

import contextlib
import io
import math
from dataclasses import asdict
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from editor_rl.config import RewardModelConfig
from editor_rl.errors import EditorRLError
from editor_rl.rewards.descriptors import N_DESCRIPTORS
from editor_rl.rewards.sequence import CONTEXT_DIM, INPUT_DIM, N_TOKENS, PAD_TOKEN, EditSequence

CHECKPOINT_FORMAT = "editor-rl-reward/3"
SCORE_BOUND = 10.0


class Normalizer(NamedTuple):
    """Standardisation of the per-beat features and of the descriptors (statistics of a reference set).

    Attributes
    ----------
    mean, std : np.ndarray [shape=(133,), dtype=float32]
    desc_mean, desc_std : np.ndarray [shape=(28,), dtype=float32]
    """

    mean: np.ndarray
    std: np.ndarray
    desc_mean: np.ndarray
    desc_std: np.ndarray

    @classmethod
    def fit(cls, sequences: Sequence[EditSequence]) -> "Normalizer":
        """Statistics over every beat (and every edit) of the reference ``sequences``."""
        x = np.concatenate([s.features for s in sequences]).astype(np.float64)
        d = np.stack([s.descriptors for s in sequences]).astype(np.float64)
        return cls(x.mean(axis=0).astype(np.float32), (x.std(axis=0) + 1e-3).astype(np.float32),
                   d.mean(axis=0).astype(np.float32), (d.std(axis=0) + 1e-3).astype(np.float32))

    def apply(self, features: np.ndarray) -> np.ndarray:
        """Standardise per-beat features and clip to ±8."""
        return np.clip((features - self.mean) / self.std, -8.0, 8.0).astype(np.float32)

    def apply_descriptors(self, d: np.ndarray) -> np.ndarray:
        """Standardise descriptors and clip to ±8."""
        return np.clip((d - self.desc_mean) / self.desc_std, -8.0, 8.0).astype(np.float32)


def patches(seq: EditSequence, norm: Normalizer, beats_per_token: int) -> np.ndarray:
    """One row per token: ``beats_per_token`` beats' standardised features and one-hot actions.

    Returns
    -------
    p : np.ndarray [shape=(ceil(L / beats_per_token), beats_per_token * (133 + 10)), dtype=float32]
        The last token's missing beats are zero features with the padding action.
    """
    n = len(seq.tokens)
    t = -(-n // beats_per_token)
    rows = np.zeros((t * beats_per_token, INPUT_DIM + N_TOKENS), np.float32)
    rows[:n, :INPUT_DIM] = norm.apply(seq.features)
    tokens = np.full(t * beats_per_token, PAD_TOKEN)
    tokens[:n] = seq.tokens
    rows[np.arange(len(tokens)), INPUT_DIM + tokens] = 1.0
    return rows.reshape(t, -1)


class Batch(NamedTuple):
    """A padded batch of edits (torch tensors).

    Attributes
    ----------
    patches : torch.Tensor [shape=(B, T, K)]
    pad : torch.Tensor [shape=(B, T), dtype=bool]
        True at padding tokens.
    context : torch.Tensor [shape=(B, 3)]
    descriptors : torch.Tensor [shape=(B, 28)]
        Standardised.
    """

    patches: torch.Tensor
    pad: torch.Tensor
    context: torch.Tensor
    descriptors: torch.Tensor


def collate(rows: Sequence[np.ndarray], contexts: Sequence[np.ndarray], descriptors: Sequence[np.ndarray], *, device: str | torch.device = "cpu") -> Batch:
    """Pad token rows (:func:`patches`) to the batch's longest into a :class:`Batch`."""
    lengths = torch.tensor([len(r) for r in rows])
    x = nn.utils.rnn.pad_sequence([torch.from_numpy(r) for r in rows], batch_first=True)
    pad = torch.arange(x.shape[1])[None, :] >= lengths[:, None]
    return Batch(x.to(device), pad.to(device), torch.from_numpy(np.stack(contexts)).to(device), torch.from_numpy(np.stack(descriptors)).to(device))


def collate_sequences(sequences: Sequence[EditSequence], norm: Normalizer, beats_per_token: int, *, device: str | torch.device = "cpu") -> Batch:
    """The :class:`Batch` of ``sequences``, as ``collate`` of their :func:`patches` would give, with
    the standardisation, one-hot actions and padding done in one pass of tensor operations on
    ``device``: the host only copies each edit's raw features and tokens into one padded array, so a
    GPU scorer is not held back by per-edit work on its host.

    Returns
    -------
    Batch
        ``patches`` [shape=(B, T, beats_per_token * (133 + 10))] with T the longest edit's tokens.
    """
    p = beats_per_token
    lengths = np.array([len(s.tokens) for s in sequences])
    n_tok = -(-lengths // p)
    span = int(n_tok.max()) * p
    feats = np.zeros((len(sequences), span, INPUT_DIM), np.float32)
    tokens = np.full((len(sequences), span), PAD_TOKEN, np.int64)
    for i, s in enumerate(sequences):
        feats[i, : lengths[i]] = s.features
        tokens[i, : lengths[i]] = s.tokens
    beat = torch.arange(span, device=device)[None, :]
    real = (beat < torch.as_tensor(lengths, device=device)[:, None])[..., None]  # (B, span, 1): a beat of the edit
    in_token = (beat < torch.as_tensor(n_tok * p, device=device)[:, None])[..., None]  # in one of its tokens (else padding)
    mean, std = (torch.as_tensor(v, device=device) for v in (norm.mean, norm.std))
    x = torch.where(real, ((torch.as_tensor(feats, device=device) - mean) / std).clamp(-8.0, 8.0), 0.0)
    onehot = F.one_hot(torch.as_tensor(tokens, device=device), N_TOKENS).to(torch.float32) * in_token
    rows = torch.cat([x, onehot], dim=-1).reshape(len(sequences), span // p, -1)
    pad = torch.arange(span // p, device=device)[None, :] >= torch.as_tensor(n_tok, device=device)[:, None]
    contexts = np.stack([s.context for s in sequences]).astype(np.float32)
    descriptors = np.stack([norm.apply_descriptors(s.descriptors) for s in sequences])
    return Batch(rows, pad, torch.as_tensor(contexts, device=device), torch.as_tensor(descriptors, device=device))


def _positions(n: int, d: int) -> torch.Tensor:
    pos = torch.arange(n, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, d, 2, dtype=torch.float32) * (-math.log(10000.0) / d))
    pe = torch.zeros(n, d)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)[:, : d // 2]
    return pe


def _weight(e: int, fan_in: int, fan_out: int) -> nn.Parameter:
    return nn.Parameter(torch.randn(e, fan_in, fan_out) / math.sqrt(fan_in))


class EnsembleLayerNorm(nn.Module):
    """LayerNorm with its own gain and bias per member: x [shape=(E, B, L, d)]."""

    def __init__(self, e: int, d: int) -> None:
        super().__init__()
        self.weight, self.bias = nn.Parameter(torch.ones(e, d)), nn.Parameter(torch.zeros(e, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = (x.shape[0],) + (1,) * (x.dim() - 2) + (x.shape[-1],)
        return F.layer_norm(x, x.shape[-1:]) * self.weight.view(shape) + self.bias.view(shape)


class EnsembleEncoderLayer(nn.Module):
    """A pre-norm transformer encoder layer for E members at once: x [shape=(E, B, L, d)]."""

    def __init__(self, e: int, d: int, heads: int, ff: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.norm1, self.norm2 = EnsembleLayerNorm(e, d), EnsembleLayerNorm(e, d)
        self.w_qkv, self.b_qkv = _weight(e, d, 3 * d), nn.Parameter(torch.zeros(e, 3 * d))
        self.w_out, self.b_out = _weight(e, d, d), nn.Parameter(torch.zeros(e, d))
        self.w_ff1, self.b_ff1 = _weight(e, d, ff), nn.Parameter(torch.zeros(e, ff))
        self.w_ff2, self.b_ff2 = _weight(e, ff, d), nn.Parameter(torch.zeros(e, d))

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """``keep`` [shape=(B, L), dtype=bool]: True where a token takes part."""
        e, b, length, d = x.shape
        p = self.dropout if self.training else 0.0
        qkv = torch.einsum("ebld,edf->eblf", self.norm1(x), self.w_qkv) + self.b_qkv[:, None, None]
        q, k, v = (t.reshape(e * b, length, self.heads, d // self.heads).transpose(1, 2) for t in qkv.split(d, dim=-1))
        mask = keep.repeat(e, 1)[:, None, None, :]  # (E·B, 1, 1, L)
        att = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p).transpose(1, 2).reshape(e, b, length, d)
        x = x + F.dropout(torch.einsum("ebld,edf->eblf", att, self.w_out) + self.b_out[:, None, None], p, self.training)
        h = F.gelu(torch.einsum("ebld,edf->eblf", self.norm2(x), self.w_ff1) + self.b_ff1[:, None, None])
        return x + F.dropout(torch.einsum("eblf,efd->ebld", F.dropout(h, p, self.training), self.w_ff2) + self.b_ff2[:, None, None], p, self.training)


class RewardModel(nn.Module):
    """The ensemble reward model (see the module docstring).

    Parameters
    ----------
    config : RewardModelConfig
    """

    def __init__(self, config: RewardModelConfig) -> None:
        super().__init__()
        self.config = config
        e, d, p = config.ensemble, config.d_model, config.beats_per_token
        k = p * (INPUT_DIM + N_TOKENS)
        self.w_in, self.b_in = _weight(e, k, d), nn.Parameter(torch.zeros(e, d))
        self.w_ctx, self.cls = _weight(e, CONTEXT_DIM, d), nn.Parameter(torch.zeros(e, d))
        self.register_buffer("pe", _positions(-(-config.max_beats // p) + 1, d), persistent=False)
        self.layers = nn.ModuleList(EnsembleEncoderLayer(e, d, config.n_heads, config.d_ff, config.dropout) for _ in range(config.n_layers))
        self.norm = EnsembleLayerNorm(e, d)
        self.w_head, self.b_head = nn.Parameter(torch.randn(e, d) / math.sqrt(d)), nn.Parameter(torch.zeros(e))
        self.w_desc = nn.Parameter(torch.zeros(e, N_DESCRIPTORS))
        self.alpha, self.bias = nn.Parameter(torch.ones(e)), nn.Parameter(torch.zeros(e))

    def head_parameters(self) -> list[nn.Parameter]:
        """The explicit path and the mixing scalars (they adapt fastest in a fine-tune)."""
        return [self.w_desc, self.alpha, self.bias]

    def trunk(self, batch: Batch) -> torch.Tensor:
        """Each member's transformer score of each edit, before the mix. An edit longer than
        ``max_beats`` is scored in consecutive chunks of that many beats, averaged by length (so
        training and scoring see long edits alike).

        Returns
        -------
        learned : torch.Tensor [shape=(E, B)]
        """
        t, span = batch.patches.shape[1], self.pe.shape[0] - 1
        if t > span:  # longer than max_beats: consecutive chunks, their scores averaged by real tokens
            parts = [batch._replace(patches=batch.patches[:, i : i + span], pad=batch.pad[:, i : i + span]) for i in range(0, t, span)]
            real = torch.stack([(~p.pad).sum(dim=1) for p in parts]).to(batch.patches.dtype)  # (chunks, B)
            scores = torch.stack([self.trunk(p) for p in parts], dim=1)  # (E, chunks, B)
            return (scores * real[None]).sum(dim=1) / real.sum(dim=0).clamp(min=1)[None]
        x = torch.einsum("btk,ekd->ebtd", batch.patches, self.w_in) + self.b_in[:, None, None] + self.pe[1 : t + 1]
        cls = self.cls[:, None, :] + torch.einsum("bc,ecd->ebd", batch.context, self.w_ctx) + self.pe[0]
        h = torch.cat([cls[:, :, None], x], dim=2)
        keep = torch.cat([torch.ones_like(batch.pad[:, :1]), ~batch.pad], dim=1)
        for layer in self.layers:
            h = layer(h, keep)
        return torch.einsum("ebd,ed->eb", self.norm(h[:, :, 0]), self.w_head) + self.b_head[:, None]

    def mix(self, learned: torch.Tensor, descriptors: torch.Tensor) -> torch.Tensor:
        """The members' scores from their transformer scores [shape=(E, B)] and the standardised
        descriptors [shape=(B, 28)]: ``10 · tanh((α · learned + w · descriptors + b) / 10)``, [shape=(B, E)]."""
        raw = self.alpha[:, None] * learned + torch.einsum("bk,ek->eb", descriptors, self.w_desc) + self.bias[:, None]
        return (SCORE_BOUND * torch.tanh(raw / SCORE_BOUND)).T

    def forward(self, batch: Batch) -> torch.Tensor:
        """Each member's score of each edit.

        Returns
        -------
        scores : torch.Tensor [shape=(B, E)]
            In [-10, 10].
        """
        return self.mix(self.trunk(batch), batch.descriptors)


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
    device : str
    precision : str
        "bf16" (autocast, CUDA only) or "fp32".
    """

    def __init__(self, model: RewardModel, normalizer: Normalizer, *, metrics: dict | None = None, tie_threshold: float = 0.5, device: str = "cpu",
                 precision: str = "fp32") -> None:
        self.model = model.to(device).eval()
        self.normalizer = normalizer
        self.metrics = metrics or {}
        self.tie_threshold = tie_threshold
        self.device = device
        self.precision = precision if str(device).startswith("cuda") else "fp32"  # bf16 autocast only where it pays: CUDA

    def batch(self, sequences: Sequence[EditSequence]) -> Batch:
        """The padded, standardised batch of ``sequences`` on this scorer's device."""
        return collate_sequences(sequences, self.normalizer, self.model.config.beats_per_token, device=self.device)

    @torch.no_grad()
    def score_members(self, sequences: Sequence[EditSequence], *, batch_size: int = 64) -> np.ndarray:
        """Every member's score of every sequence (an edit longer than ``max_beats``: see
        :meth:`RewardModel.trunk`).

        Returns
        -------
        scores : np.ndarray [shape=(N, E)]
        """
        members = np.zeros((len(sequences), self.model.config.ensemble), np.float64)
        order = np.argsort([len(q.tokens) for q in sequences], kind="stable")  # similar lengths batch together
        autocast = torch.autocast("cuda", dtype=torch.bfloat16) if self.precision == "bf16" else contextlib.nullcontext()
        with autocast:
            for k in range(0, len(order), batch_size):
                idx = order[k : k + batch_size]
                members[idx] = self.model(self.batch([sequences[j] for j in idx])).float().cpu().numpy()
        return members

    def score(self, sequences: Sequence[EditSequence], *, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
        """Reward and uncertainty of each sequence.

        Returns
        -------
        reward, std : np.ndarray [shape=(N,)]
            Mean and standard deviation over the ensemble members.
        """
        m = self.score_members(sequences, batch_size=batch_size)
        return m.mean(axis=1), m.std(axis=1)

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
        "normalizer": {k: torch.from_numpy(np.asarray(v)) for k, v in normalizer._asdict().items()},
        "tie_threshold": float(tie_threshold),
        "metrics": metrics,
        "extra": extra or {},
    }
    tmp = p.with_name(f".{p.name}.tmp")
    torch.save(payload, tmp)
    tmp.replace(p)
    return p


def load_scorer(source: str | Path | bytes, *, device: str = "cpu", precision: str = "fp32") -> RewardScorer:
    """Load a checkpoint written by :func:`save_checkpoint` (a path, or the file's bytes).

    Raises
    ------
    EditorRLError
        Missing file, or not an editor-rl reward checkpoint of this format.
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
    fmt = payload.get("format") if isinstance(payload, dict) else None
    if fmt != CHECKPOINT_FORMAT:
        raise EditorRLError(f"{name}: not an editor-rl reward checkpoint of format {CHECKPOINT_FORMAT!r} (found {fmt!r}); train it again")
    model = RewardModel(RewardModelConfig(**payload["model_config"]))
    model.load_state_dict(payload["state_dict"])
    norm = Normalizer(**{k: v.numpy() for k, v in payload["normalizer"].items()})
    return RewardScorer(model, norm, metrics=payload.get("metrics", {}), tie_threshold=payload.get("tie_threshold", 0.5), device=device, precision=precision)
