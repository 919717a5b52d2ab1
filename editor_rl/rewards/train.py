"""Train the reward model on preference records (Bradley–Terry with ties and strength).

The pipeline, fit for 30 judgements as for 5 000:

1. **prepare**: each candidate's :class:`~editor_rl.rewards.sequence.EditSequence` (computed once)
   and the pair table;
2. **split**: a share of the songs is held out for validation when there are at least
   ``min_val_songs`` (no song in both splits); with fewer, a fold of the pairs (with two songs,
   holding one out would halve the data and test on a song never seen);
3. **encode** every sequence once into standardised token rows (no per-batch Python work but the
   padding); batches group pairs of similar length, so padding stays small;
4. **fit the explicit path first** (:func:`fit_explicit_path`): the transformers frozen, their scores
   computed once, the descriptor head, the mixing scalars and θ solved to convergence under a ridge
   penalty anchored at their starting values (the prior's, in a fine-tune) or at zero, anchor and
   strength chosen by how well they rank validation pairs — a logistic regression on the descriptors
   with the transformer's score as one more feature, which few labels can already pin down;
5. **then fit everything**: AdamW on :class:`~editor_rl.rewards.bradley_terry.BradleyTerryLoss`,
   the explicit path, the mixing scalars and θ ``head_lr_factor`` times faster than the transformers;
   the learning rate halves when validation stalls and training stops when it has not improved for
   ``patience`` epochs (after at least ``min_steps`` steps). The best state of either phase is kept
   (by validation loss): the transformers change the model only where they validate better.

Each ensemble member is weighted by its own bootstrap sample of the pairs in both phases
(independent members: their spread means something). A progress line per epoch.

Fine-tuning starts from a checkpoint (weights, normaliser, θ), its transformers at
``lr · finetune_lr_factor`` and its explicit path at the head's full rate, so a new listener's taste
takes over quickly where it differs from the prior's.

Metrics (validation): accuracy on non-tie pairs (sign of the mean score gap), log loss of the
A/B/tie likelihood, and expected calibration error (10 bins) of ``P(a ≻ b | not tie)``.
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
from editor_rl.rewards.bradley_terry import PREF_CODES, PREF_TIE, BradleyTerryLoss
from editor_rl.preferences.records import PreferenceRecord
from editor_rl.rewards.model import Normalizer, RewardModel, RewardScorer, collate, patches
from editor_rl.rewards.sequence import EditSequence, edit_sequence


class PairData(NamedTuple):
    """Pairs ready for training: sequence indices, labels, songs."""

    a: np.ndarray  # [shape=(P,)] index into the sequence list
    b: np.ndarray  # [shape=(P,)]
    preference: np.ndarray  # [shape=(P,)] 0 a, 1 b, 2 tie
    strength: np.ndarray  # [shape=(P,)]
    song: np.ndarray  # [shape=(P,)] song ids


class Encoded(NamedTuple):
    """Every sequence standardised once: token rows [each shape=(T_i, K)], contexts [shape=(N, 3)],
    standardised descriptors [shape=(N, 28)] and token counts [shape=(N,)]."""

    rows: list[np.ndarray]
    context: np.ndarray
    descriptors: np.ndarray
    tokens: np.ndarray


def prepare(records: Sequence[PreferenceRecord], analyses: Mapping[str, SongAnalysis]) -> tuple[list[EditSequence], PairData]:
    """Model inputs for every candidate (each computed once) and the pair table.

    Raises
    ------
    PreferenceDataError
        A record's song is not among ``analyses``.
    """
    seqs: list[EditSequence] = []
    index: dict[tuple[str, str, float | None], int] = {}
    cols: dict[str, list] = {"a": [], "b": [], "preference": [], "strength": [], "song": []}
    for n, r in enumerate(records, start=1):
        if r.song_id not in analyses:
            raise PreferenceDataError(f"record {n} ({r.pair_id}): song_id={r.song_id!r} is not among the {len(analyses)} songs given")
        an = analyses[r.song_id]
        for side, cand in (("a", r.a), ("b", r.b)):
            key = (r.song_id, cand.candidate_id, r.target_seconds)
            if key not in index:
                index[key] = len(seqs)
                seqs.append(edit_sequence(an, cand.plan(source_duration_s=an.duration_s), target_seconds=r.target_seconds))
            cols[side].append(index[key])
        cols["preference"].append(PREF_CODES[r.preference])
        cols["strength"].append(r.strength)
        cols["song"].append(r.song_id)
    return seqs, PairData(*(np.asarray(cols[k]) for k in ("a", "b", "preference", "strength", "song")))


def split(pairs: PairData, *, val_fraction: float, min_val_songs: int, seed: int) -> tuple[np.ndarray, np.ndarray, str]:
    """Training and validation pair indices, and how they were split ("songs" or "pairs").

    By song (hash order, at least one each) with ``min_val_songs`` songs or more; else a seeded
    fold of the pairs.

    Raises
    ------
    PreferenceDataError
        Fewer than 4 pairs.
    """
    n = len(pairs.a)
    if n < 4:
        raise PreferenceDataError(f"need at least 4 preference pairs to train and validate; got {n}")
    songs = sorted(set(pairs.song.tolist()), key=lambda s: hashlib.sha256(f"{seed}:{s}".encode()).hexdigest())
    if len(songs) >= min_val_songs:
        n_val = min(len(songs) - 1, max(1, int(round(val_fraction * len(songs)))))
        val = np.isin(pairs.song, songs[:n_val])
        return np.flatnonzero(~val), np.flatnonzero(val), "songs"
    perm = np.random.default_rng(seed).permutation(n)
    n_val = max(2, int(round(val_fraction * n)))
    return np.sort(perm[n_val:]), np.sort(perm[:n_val]), "pairs"


def encode(seqs: Sequence[EditSequence], norm: Normalizer, beats_per_token: int) -> Encoded:
    """Standardise and tokenise every sequence once."""
    rows = [patches(s, norm, beats_per_token) for s in seqs]
    return Encoded(rows, np.stack([s.context for s in seqs]).astype(np.float32), np.stack([norm.apply_descriptors(s.descriptors) for s in seqs]),
                   np.array([len(r) for r in rows]))


def _scores(model: RewardModel, enc: Encoded, idx: np.ndarray) -> torch.Tensor:
    """Scores [shape=(len(idx), E)] of the sequences ``idx``."""
    return model(collate([enc.rows[i] for i in idx], enc.context[idx], enc.descriptors[idx]))


def length_batches(sel: np.ndarray, pairs: PairData, enc: Encoded, batch_pairs: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Pair indices ``sel`` in batches of similar length (little padding), the batches in random order."""
    longest = np.maximum(enc.tokens[pairs.a[sel]], enc.tokens[pairs.b[sel]])
    order = sel[np.lexsort((rng.random(len(sel)), longest))]
    chunks = [order[k : k + batch_pairs] for k in range(0, len(order), batch_pairs)]
    return [chunks[i] for i in rng.permutation(len(chunks))]


def pair_metrics(score: torch.Tensor, loss_fn: BradleyTerryLoss, pairs: PairData, sel: np.ndarray) -> dict[str, float]:
    """Accuracy (non-ties), log loss and ECE of the selected pairs under scores [shape=(N,)] of every sequence."""
    if len(sel) == 0:
        return {"accuracy": float("nan"), "log_loss": float("nan"), "ece": float("nan"), "pairs": 0}
    ra, rb = score[torch.as_tensor(pairs.a[sel])], score[torch.as_tensor(pairs.b[sel])]
    pref, strength = torch.as_tensor(pairs.preference[sel]), torch.as_tensor(pairs.strength[sel])
    with torch.no_grad():
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


@torch.no_grad()
def _trunk_scores(model: RewardModel, enc: Encoded, *, batch: int = 128) -> torch.Tensor:
    """Every sequence's transformer score per member [shape=(E, N)] (eval mode)."""
    model.eval()
    order = np.argsort(enc.tokens, kind="stable")
    out = torch.zeros(model.config.ensemble, len(enc.rows))
    for k in range(0, len(order), batch):
        idx = order[k : k + batch]
        out[:, idx] = model.trunk(collate([enc.rows[i] for i in idx], enc.context[idx], enc.descriptors[idx]))
    return out


def evaluate(model: RewardModel, loss_fn: BradleyTerryLoss, enc: Encoded, pairs: PairData, sel: np.ndarray) -> dict[str, float]:
    """Accuracy (non-ties), log loss and ECE on the selected pairs, with the members' mean score."""
    with torch.no_grad():
        score = model.mix(_trunk_scores(model, enc), torch.from_numpy(enc.descriptors)).mean(dim=1)
    return pair_metrics(score, loss_fn, pairs, sel)


RIDGE = (300.0, 30.0, 3.0, 1.0, 0.5, 0.25)
"""Penalties tried for the explicit path (in pairs: λ = 3 weighs like three pairs' worth of evidence)."""
DEFAULT_RIDGE = ("zero", 0.5)
"""The explicit path's fit unless cross-validation shows another clearly better: a plain ridge regression."""


def fit_explicit_path(model: RewardModel, loss_fn: BradleyTerryLoss, enc: Encoded, pairs: PairData, tr: np.ndarray, va: np.ndarray, boot: torch.Tensor,
                      *, cross_validate: bool = False, folds: int = 5, repeats: int = 5, seed: int = 0) -> dict:
    """Phase 1: the explicit path, the mixing scalars and θ alone, the transformers frozen.

    Their scores are computed once; what is left is a small, nearly convex problem — a logistic
    regression on the descriptors with each member's transformer score as one more feature. It is
    solved to convergence (L-BFGS) under a ridge penalty ``λ · ‖θ_head − anchor‖² / n_pairs`` for each
    λ of :data:`RIDGE` and two anchors: the starting values (the pretrained model's in a fine-tune: a
    strong penalty keeps the prior, a weak one follows the labels) and zero (a plain ridge regression,
    for a listener unlike the prior). The pair (anchor, λ) that ranks the validation pairs best is
    kept (log loss breaks ties) — chosen by ``repeats`` × ``folds``-fold cross-validation over all pairs
    with ``cross_validate`` (by the one-standard-error rule: the plain ridge :data:`DEFAULT_RIDGE` unless
    another choice ranks clearly better), after which it is fit on all of them (few labels: none is wasted on a tiny
    validation set). Returns the best state (as ``train_reward_model``'s ``best``).
    """
    ex = _Explicit(model, loss_fn, enc, pairs, boot)
    if cross_validate:
        val, how = _cross_validated(ex, np.concatenate([tr, va]), folds=folds, repeats=repeats, seed=seed)
    else:
        val, how = _validated(ex, tr, va)
    return {"loss": val["log_loss"], "state": copy.deepcopy(model.state_dict()), "theta": loss_fn.theta.item(), "epoch": 0, "val": val, "phase": how}


class _Explicit:
    """The explicit path's problem (:func:`fit_explicit_path`): the frozen transformers' scores, the
    anchors of the ridge penalty, and its solver."""

    def __init__(self, model: RewardModel, loss_fn: BradleyTerryLoss, enc: Encoded, pairs: PairData, boot: torch.Tensor) -> None:
        self.model, self.loss_fn, self.pairs, self.boot = model, loss_fn, pairs, boot
        self.learned, self.desc = _trunk_scores(model, enc), torch.from_numpy(enc.descriptors)
        self.start_state, self.start_theta = copy.deepcopy(model.state_dict()), float(loss_fn.log_theta.item())
        self.anchors = {"start": [p.detach().clone() for p in model.head_parameters()], "zero": [torch.zeros_like(p) for p in model.head_parameters()]}
        self.choices = [(name, lam) for name in self.anchors for lam in RIDGE]

    def solve(self, fit: np.ndarray, choice: tuple[str, float]) -> None:
        """Fit the head and θ on pairs ``fit`` under the ridge ``choice`` (anchor name, λ), from the start."""
        model, loss_fn, pairs = self.model, self.loss_fn, self.pairs
        model.load_state_dict(self.start_state)
        loss_fn.log_theta.data.fill_(self.start_theta)
        anchor, lam = self.anchors[choice[0]], choice[1]
        params = model.head_parameters() + list(loss_fn.parameters())
        a, b, pref, strength = (torch.as_tensor(x[fit]) for x in (pairs.a, pairs.b, pairs.preference, pairs.strength))
        opt = torch.optim.LBFGS(params, lr=1.0, max_iter=200, tolerance_grad=1e-6, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            scores = model.mix(self.learned, self.desc)
            loss = loss_fn(scores[a], scores[b], pref, strength, self.boot[fit])
            loss = loss + lam / max(1, len(fit)) * sum(((p - q) ** 2).sum() for p, q in zip(model.head_parameters(), anchor))
            loss.backward()
            return loss

        opt.step(closure)

    def metrics(self, val: np.ndarray) -> dict:
        with torch.no_grad():
            return pair_metrics(self.model.mix(self.learned, self.desc).mean(dim=1), self.loss_fn, self.pairs, val)


def _rank(m: dict) -> tuple:
    """Best ranking first, then calibration."""
    return (-np.nan_to_num(m["accuracy"], nan=0.0), m["log_loss"])


def _cross_validated(ex: _Explicit, every: np.ndarray, *, folds: int, repeats: int, seed: int) -> tuple[dict, str]:
    """Choose the ridge by repeated k-fold cross-validation (one-standard-error rule), then fit on all pairs."""
    rng = np.random.default_rng(seed)
    splits = [f for _ in range(repeats) for f in np.array_split(rng.permutation(every), folds)]  # repeated: less noise with few pairs
    scores, folds_acc = {}, {}
    for choice in ex.choices:
        per_fold = []
        for f in splits:
            ex.solve(np.setdiff1d(every, f), choice)
            per_fold.append(ex.metrics(f))
        scores[choice] = {k: float(np.nanmean([m[k] for m in per_fold])) for k in ("accuracy", "log_loss", "ece")} | {"pairs": int(len(every))}
        folds_acc[choice] = np.nan_to_num(np.array([m["accuracy"] for m in per_fold]), nan=0.5)
    best = min(ex.choices, key=lambda c: _rank(scores[c]))
    gain = folds_acc[best] - folds_acc[DEFAULT_RIDGE]
    # one-standard-error rule: leave the plain ridge only for a clearly better choice (selection among noisy folds over-fits)
    choice = best if gain.mean() > gain.std() / np.sqrt(folds) else DEFAULT_RIDGE
    ex.solve(every, choice)
    return scores[choice], f"explicit (ridge toward the {choice[0]}, λ = {choice[1]:g}, by {repeats}×{folds}-fold cross-validation; then fit on all pairs)"


def _validated(ex: _Explicit, tr: np.ndarray, va: np.ndarray) -> tuple[dict, str]:
    """Choose the ridge by the validation pairs; the model is left at that choice's fit."""
    results = {}
    for choice in ex.choices:
        ex.solve(tr, choice)
        results[choice] = (ex.metrics(va), copy.deepcopy(ex.model.state_dict()), float(ex.loss_fn.log_theta.item()))
    choice = min(ex.choices, key=lambda c: _rank(results[c][0]))
    val, state, theta = results[choice]
    ex.model.load_state_dict(state)
    ex.loss_fn.log_theta.data.fill_(theta)
    return val, f"explicit (ridge toward the {choice[0]}, λ = {choice[1]:g}, by validation)"


def _starting_model(seqs: list, pairs: PairData, tr: np.ndarray, *, model_config: RewardModelConfig, tc: RewardTrainConfig,
                    pretrained: RewardScorer | None) -> tuple[RewardModel, Normalizer, BradleyTerryLoss]:
    """The model to train, its feature normaliser and its loss: the pretrained ones (a fine-tune)
    or fresh ones, the normaliser fit on the training pairs' edits."""
    if pretrained is not None:
        model, norm = copy.deepcopy(pretrained.model).train(), pretrained.normalizer
        return model, norm, BradleyTerryLoss(margin_per_strength=tc.margin_per_strength, tie_threshold=pretrained.tie_threshold)
    norm = Normalizer.fit([seqs[i] for i in np.unique(np.concatenate([pairs.a[tr], pairs.b[tr]]))])
    return RewardModel(model_config), norm, BradleyTerryLoss(margin_per_strength=tc.margin_per_strength, tie_threshold=tc.tie_threshold)


def _fit_all(model: RewardModel, loss_fn: BradleyTerryLoss, enc: Encoded, pairs: PairData, tr: np.ndarray, va: np.ndarray, boot: torch.Tensor, *,
             best: dict, history: list[dict], fine_tune: bool, tc: RewardTrainConfig, rng: np.random.Generator, say: Callable[[str], None]) -> dict:
    """Phase 2: every parameter, epoch by epoch, early-stopped on the validation pairs; returns the
    best state so far (the explicit path's ``best`` unless an epoch beats it) and appends to ``history``."""
    opt = _optimizer(model, loss_fn, tc, fine_tune=fine_tune)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=max(1, tc.patience // 2))
    since_best, steps = 0, 0
    for epoch in range(1, tc.max_epochs + 1):
        t0 = time.time()
        model.train()
        total = 0.0
        for sel in length_batches(tr, pairs, enc, tc.batch_pairs, rng):
            out = _scores(model, enc, np.concatenate([pairs.a[sel], pairs.b[sel]]))
            loss = loss_fn(out[: len(sel)], out[len(sel) :], torch.as_tensor(pairs.preference[sel]), torch.as_tensor(pairs.strength[sel]), boot[sel])
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            total += loss.item() * len(sel)
            steps += 1
        val = evaluate(model, loss_fn, enc, pairs, va)
        plateau.step(val["log_loss"])
        row = {"epoch": epoch, "train_loss": total / max(1, len(tr)), "val_loss": val["log_loss"], "val_accuracy": val["accuracy"], "val_ece": val["ece"],
               "lr": opt.param_groups[0]["lr"], "seconds": time.time() - t0}
        history.append(row)
        say(f"reward epoch {epoch:3d}: train_loss {row['train_loss']:.4f} val_loss {val['log_loss']:.4f} val_acc {val['accuracy']:.3f} "
            f"ece {val['ece']:.3f} θ {loss_fn.theta.item():.3f} ({row['seconds']:.2f} s)")
        if val["log_loss"] < best["loss"] - 1e-4:
            best = {"loss": val["log_loss"], "state": copy.deepcopy(model.state_dict()), "theta": loss_fn.theta.item(), "epoch": epoch, "val": val, "phase": "all"}
            since_best = 0
        else:
            since_best += 1
            if since_best >= tc.patience and steps >= tc.min_steps:
                say(f"reward: validation stopped improving; stopping after epoch {epoch} (best: {best['phase']} phase, epoch {best['epoch']})")
                break
    return best


def _optimizer(model: RewardModel, loss_fn: BradleyTerryLoss, tc: RewardTrainConfig, *, fine_tune: bool) -> torch.optim.Optimizer:
    heads = {id(p) for p in model.head_parameters()}
    trunk = [p for p in model.parameters() if id(p) not in heads]
    trunk_lr = tc.lr * (tc.finetune_lr_factor if fine_tune else 1.0)
    return torch.optim.AdamW([
        {"params": trunk, "lr": trunk_lr, "weight_decay": tc.weight_decay},
        {"params": model.head_parameters(), "lr": tc.lr * tc.head_lr_factor, "weight_decay": tc.weight_decay},
        {"params": list(loss_fn.parameters()), "lr": tc.lr * tc.head_lr_factor, "weight_decay": 0.0},
    ])


def train_reward_model(
    records: Sequence[PreferenceRecord],
    analyses: Mapping[str, SongAnalysis],
    *,
    model_config: RewardModelConfig = RewardModelConfig(),
    train_config: RewardTrainConfig = RewardTrainConfig(),
    pretrained: RewardScorer | None = None,
    log: Callable[[str], None] | None = None,
) -> RewardScorer:
    """Fit (or fine-tune) a reward model on preference records (see the module docstring).

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
    tc, say = train_config, log or (lambda m: print(m, file=sys.stderr, flush=True))
    if not records:
        raise PreferenceDataError("no preference records to train on")
    torch.manual_seed(tc.seed)
    torch.set_num_threads(tc.torch_threads)
    rng = np.random.default_rng(tc.seed)
    seqs, pairs = prepare(records, analyses)
    tr, va, split_by = split(pairs, val_fraction=tc.val_fraction, min_val_songs=tc.min_val_songs, seed=tc.seed)
    model, norm, loss_fn = _starting_model(seqs, pairs, tr, model_config=model_config, tc=tc, pretrained=pretrained)
    enc, E = encode(seqs, norm, model.config.beats_per_token), model.config.ensemble
    boot = torch.from_numpy(rng.exponential(1.0, size=(len(pairs.a), E)).astype(np.float32)) if E > 1 else torch.ones(len(pairs.a), 1)
    initial = evaluate(model, loss_fn, enc, pairs, va)
    say(f"reward: {len(tr)} train pairs, {len(va)} validation pairs (held-out {split_by}); start: val_acc {initial['accuracy']:.3f} val_loss {initial['log_loss']:.3f}")
    few = len(pairs.a) < tc.transformer_min_pairs
    best = fit_explicit_path(model, loss_fn, enc, pairs, tr, va, boot, cross_validate=few, seed=tc.seed)
    explicit = best["val"]
    say(f"reward: explicit path (transformers frozen): val_acc {explicit['accuracy']:.3f} val_loss {explicit['log_loss']:.3f} — {best['phase']}")
    history: list[dict] = []
    if few:
        say(f"reward: {len(pairs.a)} pairs (fewer than reward_train.transformer_min_pairs={tc.transformer_min_pairs}): the explicit path alone")
        tr, va, split_by = np.concatenate([tr, va]), np.zeros(0, dtype=np.int64), "pairs, 5-fold cross-validation"
    else:
        best = _fit_all(model, loss_fn, enc, pairs, tr, va, boot, best=best, history=history, fine_tune=pretrained is not None, tc=tc, rng=rng, say=say)
    model.load_state_dict(best["state"])
    metrics = {
        "train_pairs": int(len(tr)), "val_pairs": int(best["val"]["pairs"]), "split": split_by, "train_songs": sorted(set(pairs.song[tr].tolist())),
        "val_songs": sorted(set(pairs.song[va].tolist())), "initial_val_accuracy": initial["accuracy"], "val_accuracy": best["val"]["accuracy"],
        "val_log_loss": best["val"]["log_loss"], "val_ece": best["val"]["ece"], "best_epoch": best["epoch"], "best_phase": best["phase"],
        "explicit_val_accuracy": explicit["accuracy"], "history": history, "fine_tuned": pretrained is not None, "train_config": asdict(tc)}
    return RewardScorer(model, norm, metrics=metrics, tie_threshold=best["theta"])
