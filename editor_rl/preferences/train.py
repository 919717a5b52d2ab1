"""Train the reward model on preference records (Bradley–Terry with ties and strength).

Pipeline: records → each candidate's :class:`~editor_rl.rewards.model.EditSequence` (computed once)
→ split by song (a song's pairs are all in train or all in validation: no leakage) → AdamW on
:class:`~editor_rl.preferences.bradley_terry.BradleyTerryLoss`, each ensemble head with its own
bootstrap weights → a progress line per epoch → early stopping on validation log loss, the best
epoch's weights kept. Fine-tuning starts from a checkpoint (its weights, normaliser and θ) at
``lr · finetune_lr_factor``.

Metrics (validation): accuracy on non-tie pairs (sign of the score gap), log loss of the A/B/tie
likelihood, and expected calibration error (10 bins) of ``P(a ≻ b | not tie)`` on non-tie pairs.
"""

from __future__ import annotations

import copy
import hashlib
import sys
import time
from dataclasses import asdict
from typing import Callable, Mapping, NamedTuple, Sequence

import numpy as np
import torch

from editor_rl.audio.analysis import SongAnalysis
from editor_rl.config import RewardModelConfig, RewardTrainConfig
from editor_rl.errors import PreferenceDataError
from editor_rl.preferences.bradley_terry import PREF_CODES, PREF_TIE, BradleyTerryLoss
from editor_rl.preferences.records import PreferenceRecord
from editor_rl.rewards import dense
from editor_rl.rewards.model import Normalizer, RewardModel, RewardScorer, collate
from editor_rl.rewards.sequence import EditSequence, edit_sequence


class PairData(NamedTuple):
    """Pairs ready for training: sequence indices, labels, songs."""

    a: np.ndarray  # [shape=(P,)] index into the sequence list
    b: np.ndarray  # [shape=(P,)]
    preference: np.ndarray  # [shape=(P,)] 0 a, 1 b, 2 tie
    strength: np.ndarray  # [shape=(P,)]
    song: np.ndarray  # [shape=(P,)] song ids


def prepare(records: Sequence[PreferenceRecord], analyses: Mapping[str, SongAnalysis]) -> tuple[list[EditSequence], PairData]:
    """Model inputs for every candidate (each computed once) and the pair table.

    Raises
    ------
    PreferenceDataError
        A record's song is not among ``analyses``.
    """
    seqs: list[EditSequence] = []
    index: dict[tuple[str, str], int] = {}
    tables: dict[str, dense.SongTables] = {}
    cols: dict[str, list] = {"a": [], "b": [], "preference": [], "strength": [], "song": []}
    for n, r in enumerate(records, start=1):
        if r.song_id not in analyses:
            raise PreferenceDataError(f"record {n} ({r.pair_id}): song_id={r.song_id!r} is not among the {len(analyses)} songs given")
        an = analyses[r.song_id]
        tables.setdefault(r.song_id, dense.song_tables(an))
        for side, cand in (("a", r.a), ("b", r.b)):
            key = (r.song_id, cand.candidate_id)
            if key not in index:
                index[key] = len(seqs)
                seqs.append(edit_sequence(an, cand.plan(source_duration_s=an.duration_s), target_seconds=r.target_seconds, tables=tables[r.song_id]))
            cols[side].append(index[key])
        cols["preference"].append(PREF_CODES[r.preference])
        cols["strength"].append(r.strength)
        cols["song"].append(r.song_id)
    return seqs, PairData(*(np.asarray(cols[k]) for k in ("a", "b", "preference", "strength", "song")))


def split_by_song(songs: Sequence[str], *, val_fraction: float, seed: int) -> tuple[set[str], set[str]]:
    """Deterministic train/validation split of song ids (hash order, at least one song each).

    Raises
    ------
    PreferenceDataError
        Fewer than two songs.
    """
    uniq = sorted(set(songs), key=lambda s: hashlib.sha256(f"{seed}:{s}".encode()).hexdigest())
    if len(uniq) < 2:
        raise PreferenceDataError(f"need pairs from at least 2 songs to validate on held-out songs; got {len(uniq)}")
    n_val = min(len(uniq) - 1, max(1, int(round(val_fraction * len(uniq)))))
    return set(uniq[n_val:]), set(uniq[:n_val])


def _scores(model: RewardModel, seqs: Sequence[EditSequence], norm: Normalizer, idx: np.ndarray) -> torch.Tensor:
    return model(*collate([seqs[i] for i in idx], norm))


@torch.no_grad()
def evaluate(model: RewardModel, loss_fn: BradleyTerryLoss, seqs: Sequence[EditSequence], norm: Normalizer, pairs: PairData, sel: np.ndarray, *, batch: int = 64) -> dict[str, float]:
    """Accuracy (non-ties), log loss and ECE on the selected pairs."""
    model.eval()
    if len(sel) == 0:
        return {"accuracy": float("nan"), "log_loss": float("nan"), "ece": float("nan"), "pairs": 0}
    needed = np.unique(np.concatenate([pairs.a[sel], pairs.b[sel]]))
    score = {}
    for k in range(0, len(needed), batch):
        idx = needed[k : k + batch]
        out = _scores(model, seqs, norm, idx).mean(dim=1)
        score.update(zip(idx.tolist(), out.tolist()))
    ra = torch.tensor([score[i] for i in pairs.a[sel]])
    rb = torch.tensor([score[i] for i in pairs.b[sel]])
    pref = torch.as_tensor(pairs.preference[sel])
    strength = torch.as_tensor(pairs.strength[sel])
    loss = float(loss_fn(ra, rb, pref, strength))
    nontie = pref != PREF_TIE
    delta = ra - rb
    acc = float(((delta > 0) == (pref == 0))[nontie].float().mean()) if nontie.any() else float("nan")
    pa, pb, _ = loss_fn.probabilities(delta)
    p = (pa / (pa + pb))[nontie].numpy()
    y = (pref[nontie] == 0).numpy().astype(float)
    bins = np.clip((p * 10).astype(int), 0, 9)
    ece = float(sum(abs(p[bins == k].mean() - y[bins == k].mean()) * (bins == k).mean() for k in range(10) if (bins == k).any())) if len(p) else float("nan")
    return {"accuracy": acc, "log_loss": loss, "ece": ece, "pairs": int(len(sel))}


def train_reward_model(
    records: Sequence[PreferenceRecord],
    analyses: Mapping[str, SongAnalysis],
    *,
    model_config: RewardModelConfig = RewardModelConfig(),
    train_config: RewardTrainConfig = RewardTrainConfig(),
    pretrained: RewardScorer | None = None,
    log: Callable[[str], None] | None = None,
) -> RewardScorer:
    """Fit (or fine-tune) a reward model on preference records.

    Parameters
    ----------
    records : sequence of PreferenceRecord
    analyses : mapping of song id to SongAnalysis
        Every record's song.
    model_config : RewardModelConfig
        Ignored when fine-tuning (the checkpoint's own config is used).
    train_config : RewardTrainConfig
    pretrained : RewardScorer or None
        Start from this model (fine-tuning).
    log : callable or None
        Receives one progress line per epoch (default: print to stderr).

    Returns
    -------
    RewardScorer
        The best epoch's model; ``metrics`` holds the validation figures and the history.
    """
    tc = train_config
    say = log or (lambda m: print(m, file=sys.stderr, flush=True))
    if not records:
        raise PreferenceDataError("no preference records to train on")
    torch.manual_seed(tc.seed)
    torch.set_num_threads(tc.torch_threads)
    rng = np.random.default_rng(tc.seed)
    seqs, pairs = prepare(records, analyses)
    train_songs, _ = split_by_song(pairs.song, val_fraction=tc.val_fraction, seed=tc.seed)
    is_train = np.array([s in train_songs for s in pairs.song])
    tr, va = np.flatnonzero(is_train), np.flatnonzero(~is_train)
    if pretrained is not None:
        model = copy.deepcopy(pretrained.model).train()
        norm = pretrained.normalizer
        loss_fn = BradleyTerryLoss(margin_per_strength=tc.margin_per_strength, tie_threshold=pretrained.tie_threshold)
        lr = tc.lr * tc.finetune_lr_factor
    else:
        model = RewardModel(model_config)
        norm = Normalizer.fit([seqs[i] for i in np.unique(np.concatenate([pairs.a[tr], pairs.b[tr]]))])
        loss_fn = BradleyTerryLoss(margin_per_strength=tc.margin_per_strength, tie_threshold=tc.tie_threshold)
        lr = tc.lr
    E = model.config.ensemble
    boot = torch.from_numpy(rng.poisson(1.0, size=(len(pairs.a), E)).astype(np.float32)) if E > 1 else torch.ones(len(pairs.a), 1)
    opt = torch.optim.AdamW(list(model.parameters()) + list(loss_fn.parameters()), lr=lr, weight_decay=tc.weight_decay)
    initial = evaluate(model, loss_fn, seqs, norm, pairs, va)
    say(f"reward: {len(tr)} train pairs, {len(va)} validation pairs on held-out songs; start: val_acc {initial['accuracy']:.3f} val_loss {initial['log_loss']:.3f}")
    best = {"loss": initial["log_loss"], "state": copy.deepcopy(model.state_dict()), "theta": loss_fn.theta.item(), "epoch": 0, "val": initial}
    history = []
    since_best = 0
    for epoch in range(1, tc.max_epochs + 1):
        t0 = time.time()
        model.train()
        perm = rng.permutation(tr)
        total = 0.0
        for k in range(0, len(perm), tc.batch_pairs):
            sel = perm[k : k + tc.batch_pairs]
            out = _scores(model, seqs, norm, np.concatenate([pairs.a[sel], pairs.b[sel]]))
            ra, rb = out[: len(sel)], out[len(sel) :]
            loss = loss_fn(ra, rb, torch.as_tensor(pairs.preference[sel]), torch.as_tensor(pairs.strength[sel]), boot[sel])
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            total += loss.item() * len(sel)
        val = evaluate(model, loss_fn, seqs, norm, pairs, va)
        row = {"epoch": epoch, "train_loss": total / max(1, len(tr)), "val_loss": val["log_loss"], "val_accuracy": val["accuracy"], "val_ece": val["ece"], "seconds": time.time() - t0}
        history.append(row)
        say(f"reward epoch {epoch:3d}/{tc.max_epochs}: train_loss {row['train_loss']:.4f} val_loss {val['log_loss']:.4f} val_acc {val['accuracy']:.3f} ece {val['ece']:.3f} θ {loss_fn.theta.item():.3f} ({row['seconds']:.1f} s)")
        if val["log_loss"] < best["loss"] - 1e-4:
            best = {"loss": val["log_loss"], "state": copy.deepcopy(model.state_dict()), "theta": loss_fn.theta.item(), "epoch": epoch, "val": val}
            since_best = 0
        else:
            since_best += 1
            if since_best >= tc.patience:
                say(f"reward: early stop after epoch {epoch} (best epoch {best['epoch']})")
                break
    model.load_state_dict(best["state"])
    metrics = {
        "train_pairs": int(len(tr)), "val_pairs": int(len(va)), "train_songs": sorted(set(pairs.song[tr].tolist())), "val_songs": sorted(set(pairs.song[va].tolist())),
        "initial_val_accuracy": initial["accuracy"], "val_accuracy": best["val"]["accuracy"], "val_log_loss": best["val"]["log_loss"], "val_ece": best["val"]["ece"],
        "best_epoch": best["epoch"], "history": history, "fine_tuned": pretrained is not None, "train_config": asdict(tc),
    }
    return RewardScorer(model, norm, metrics=metrics, tie_threshold=best["theta"])
