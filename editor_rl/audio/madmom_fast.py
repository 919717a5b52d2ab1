"""madmom's downbeat tracker, the same computation done faster.

madmom's RNN + DBN downbeat tracker (:mod:`editor_rl.audio.madmom_tracker`) spends its time in
Python loops: a frame at a time for its spectrograms, a frame at a time for each of its 8 BLSTM
networks (3 layers, 2 directions, 25 LSTM units with peepholes), and a Viterbi over every state of
its bar-pointer model keeping a back-pointer per state and frame. This module computes the same
numbers from madmom's own weights, filterbanks and state spaces:

- :class:`Spectra`: the three log-filtered spectrograms and their positive differences, a block of
  frames at a time (one real FFT per block);
- :class:`Ensemble`: the networks side by side, each layer's input projections one matrix product
  per run of frames and every network's recurrence in one compiled loop over the frames;
- :class:`ViterbiHMM`: the bar-pointer HMM's best path, compiled, storing a choice only for the
  states that have more than one predecessor (the first state of each beat).

Floating-point sums run in another order than madmom's and tanh is a rational approximation, so
the features differ from madmom's in the last bits (≤ 1e-6) and the activations by ≤ 4e-5; the
Viterbi sums as madmom does, so its path is madmom's for the same activations, and on the 17
held-out recordings every beat and bar position is madmom's (``bench/bench_madmom_fast.py``).
``tests/test_madmom_fast.py`` compares each stage with madmom's. madmom's weights come from the
installed package (their licence keeps them there).
"""

from __future__ import annotations

import numba
import numpy as np
import scipy.fft

HOP = 441
"""madmom's hop at 44.1 kHz and 100 frames/s, samples."""
FRAME_BLOCK = 128
"""Frames transformed at once by :class:`Spectra` (a block in cache: fewer, faster passes)."""
CHUNK = 512
"""Frames whose LSTM input projections :class:`Ensemble` makes at once (6.5 MB for 8 networks)."""


# ----------------------------------------------------------------------------- the BLSTM ensemble


@numba.njit(inline="always", fastmath=True, error_model="numpy")
def _tanh(x):  # pragma: no cover - compiled
    """tanh in float32 by Eigen's rational approximation (within a few ulp), so loops vectorize."""
    x = min(max(x, np.float32(-7.90531110763549805)), np.float32(7.90531110763549805))
    x2 = x * x
    p = x2 * np.float32(-2.76076847742355e-16) + np.float32(2.00018790482477e-13)
    p = x2 * p + np.float32(-8.60467152213735e-11)
    p = x2 * p + np.float32(5.12229709037114e-08)
    p = x2 * p + np.float32(1.48572235717979e-05)
    p = x2 * p + np.float32(6.37261928875436e-04)
    p = x2 * p + np.float32(4.89352455891786e-03)
    q = x2 * np.float32(1.19825839466702e-06) + np.float32(1.18534705686654e-04)
    q = x2 * q + np.float32(2.26843463243900e-03)
    q = x2 * q + np.float32(4.89352518554385e-03)
    return x * p / q


@numba.njit(inline="always", fastmath=True, error_model="numpy")
def _sigmoid(x):  # pragma: no cover - compiled
    """The logistic function as (1 + tanh(x / 2)) / 2."""
    half = np.float32(0.5)
    return half + half * _tanh(half * x)


@numba.njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def _lstm_scan(pre, rec, peep, h, c, out, reverse):  # pragma: no cover - compiled
    """The recurrences of ``G`` LSTM layers with peepholes over a run of frames.

    Parameters
    ----------
    pre : np.ndarray [shape=(T, G, 4 * H), dtype=float32]
        Input projections plus biases of the input gate, forget gate, cell and output gate.
    rec : np.ndarray [shape=(G, H, 4 * H), dtype=float32]
        Recurrent weights (previous output @ ``rec``).
    peep : np.ndarray [shape=(G, 3, H), dtype=float32]
        Peephole weights of the input, forget and output gates.
    h, c : np.ndarray [shape=(G, H), dtype=float32]
        Outputs and cell states before the run; updated in place (the next run goes on from them).
    out : np.ndarray [shape=(T, G, H), dtype=float32]
        Written: each group's outputs in time order.
    reverse : bool
        Run from the last frame to the first (a backward layer).
    """
    n, groups, gates = pre.shape
    width = gates // 4
    acc = np.empty(gates, np.float32)
    for step in range(n):
        t = n - 1 - step if reverse else step
        for g in range(groups):
            acc[:] = pre[t, g]
            for i in range(width):
                hi = h[g, i]
                for k in range(gates):
                    acc[k] += hi * rec[g, i, k]
            for j in range(width):
                ig = _sigmoid(acc[j] + c[g, j] * peep[g, 0, j])
                fg = _sigmoid(acc[width + j] + c[g, j] * peep[g, 1, j])
                cj = _tanh(acc[2 * width + j]) * ig + c[g, j] * fg
                og = _sigmoid(acc[3 * width + j] + cj * peep[g, 2, j])
                c[g, j] = cj
                h[g, j] = _tanh(cj) * og
            out[t, g] = h[g]


def _gates(lstm) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One madmom LSTMLayer's weights (D, 4 H), biases (4 H), recurrent weights (H, 4 H) and
    peepholes (3, H), gates in the order input, forget, cell, output."""
    parts = (lstm.input_gate, lstm.forget_gate, lstm.cell, lstm.output_gate)
    weights = np.concatenate([p.weights for p in parts], axis=1)
    bias = np.concatenate([p.bias for p in parts])
    rec = np.concatenate([p.recurrent_weights for p in parts], axis=1)
    peep = np.stack([lstm.input_gate.peephole_weights, lstm.forget_gate.peephole_weights, lstm.output_gate.peephole_weights])
    return weights, bias, rec, peep


class Ensemble:
    """madmom's ensemble of BLSTM networks (the same weights), run side by side.

    Each layer runs every network's forward LSTMs together, a run of :data:`CHUNK` frames at a time
    (their input projections one matrix product per run), then their backward LSTMs from the last
    run to the first, so the largest arrays are the layers' outputs (8 networks × 50 floats a frame).

    Parameters
    ----------
    networks : list of madmom.ml.nn.NeuralNetwork
        Networks of bidirectional LSTM layers, then one softmax feed-forward layer.
    """

    def __init__(self, networks: list) -> None:
        self.layers = []
        for depth in range(len(networks[0].layers) - 1):
            directions = []
            for side in ("fwd_layer", "bwd_layer"):
                w, b, r, p = (np.ascontiguousarray(np.stack(x), dtype=np.float32)
                              for x in zip(*(_gates(getattr(net.layers[depth], side)) for net in networks)))
                if depth == 0:  # every network reads the same features: one product for all
                    w = np.ascontiguousarray(w.transpose(1, 0, 2).reshape(w.shape[1], -1))
                directions.append((w, b, r, p))  # w: (D, N 4H) or (N, D, 4H); b (N, 4H); r (N, H, 4H); p (N, 3, H)
            self.layers.append(directions)
        self.out_w = np.stack([net.layers[-1].weights for net in networks]).astype(np.float32)  # (N, 2H, K)
        self.out_b = np.stack([net.layers[-1].bias for net in networks]).astype(np.float32)[:, None, :]  # (N, 1, K)

    def __call__(self, features: np.ndarray) -> np.ndarray:
        """The ensemble's averaged softmax outputs.

        Parameters
        ----------
        features : np.ndarray [shape=(T, D), dtype=float32]

        Returns
        -------
        np.ndarray [shape=(T, K), dtype=float32]
            The mean of the networks' outputs (madmom's ``average_predictions``).
        """
        n, nets = len(features), len(self.out_w)
        x = np.ascontiguousarray(features, dtype=np.float32)
        for depth, directions in enumerate(self.layers):
            outs = []
            for side, (w, b, r, p) in enumerate(directions):
                width = r.shape[1]
                out = np.empty((n, nets, width), np.float32)
                h, c = np.zeros((nets, width), np.float32), np.zeros((nets, width), np.float32)
                starts = range(0, n, CHUNK)
                for start in reversed(starts) if side else starts:
                    run = slice(start, min(n, start + CHUNK))
                    if depth == 0:
                        pre = (x[run] @ w).reshape(-1, nets, 4 * width)
                    else:  # network k reads its own previous layer's two directions
                        pre = np.matmul(x[run].transpose(1, 0, 2), w).transpose(1, 0, 2).copy()
                    pre += b
                    _lstm_scan(pre, r, p, h, c, out[run], bool(side))
                outs.append(out)
            x = np.concatenate(outs, axis=2)  # (T, N, 2H): each network's forward, then backward outputs
        probs = np.matmul(x.transpose(1, 0, 2), self.out_w) + self.out_b  # (N, T, K)
        probs -= probs.max(axis=2, keepdims=True)
        np.exp(probs, out=probs)
        probs /= probs.sum(axis=2, keepdims=True)
        return probs.sum(axis=0) / nets


# ----------------------------------------------------------------------------- the spectrograms


class Spectra:
    """madmom's downbeat features: three log-filtered spectrograms and their positive differences.

    Parameters
    ----------
    pre_processor : madmom.processors.SequentialProcessor
        madmom's ``RNNDownBeatProcessor`` pre-processor: the signal, then one chain per frame size
        (framing, STFT, filterbank, log, difference) whose window, filterbank, log scaling and
        difference lag are read off one second of noise.
    """

    def __init__(self, pre_processor) -> None:
        from madmom.audio.spectrogram import SpectrogramDifference  # madmom imports once madmom_tracker.import_downbeats has run

        signal, chains, _ = pre_processor.processors
        probe = signal(np.random.default_rng(0).uniform(-0.5, 0.5, 44100).astype(np.float32))
        self.parts = []
        for chain in chains.processors:
            frames, stft, filt, log, diff = chain.processors
            spec = log(filt(stft(frames(probe))))
            lag = SpectrogramDifference(spec, diff_ratio=diff.diff_ratio, diff_frames=diff.diff_frames).diff_frames
            if not diff.positive_diffs or diff.diff_max_bins is not None:
                raise ValueError("madmom's downbeat features changed: expected positive differences without a maximum filter")
            self.parts.append((frames.frame_size, np.asarray(spec.stft.fft_window, np.float32),
                               np.asarray(spec.filterbank, np.float32), float(spec.mul), float(spec.add), int(lag)))

    def __call__(self, y: np.ndarray) -> np.ndarray:
        """The features of a mono signal at 44.1 kHz.

        Parameters
        ----------
        y : np.ndarray [shape=(m,), dtype=float32]

        Returns
        -------
        np.ndarray [shape=(ceil(m / 441), 314), dtype=float32]
            Per frame: each frame size's log-filtered bands, then their positive differences.
        """
        n = -(-len(y) // HOP)
        out = []
        for frame_size, window, bank, mul, add, lag in self.parts:
            half = frame_size // 2
            padded = np.zeros(half + n * HOP + frame_size, np.float32)
            padded[half:half + len(y)] = y
            spec = np.empty((n, bank.shape[1]), np.float32)
            block = np.empty((FRAME_BLOCK, frame_size), np.float32)  # a block in cache: fewer, faster passes
            for start in range(0, n, FRAME_BLOCK):
                rows = min(n, start + FRAME_BLOCK) - start
                frames = np.lib.stride_tricks.as_strided(padded[start * HOP:], shape=(rows, frame_size), strides=(HOP * 4, 4))
                np.multiply(frames, window, out=block[:rows])
                spec[start:start + rows] = np.abs(scipy.fft.rfft(block[:rows], axis=1)[:, :half]) @ bank
            spec *= mul
            spec += add
            np.log10(spec, out=spec)
            diff = np.zeros_like(spec)
            np.maximum(spec[lag:] - spec[:-lag], 0, out=diff[lag:])
            out += [spec, diff]
        return np.hstack(out)


# ----------------------------------------------------------------------------- the bar-pointer Viterbi


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _step(prev, cur, d0):  # pragma: no cover - compiled
    """Every state after the first from the state before it, heard as "no beat" (a function of its
    own, so that the loop vectorises)."""
    for s in range(1, len(cur)):
        cur[s] = prev[s - 1] + d0


@numba.njit(cache=True, nogil=True, fastmath={"nnan", "nsz"})
def _viterbi(dens, om_ptr, beat_states, sources, rows, row_src, row_lp, log_init, choice):  # pragma: no cover - compiled
    """Best final state and its log probability; ``choice`` is written for the states with a choice.

    Each candidate is summed as madmom sums it (previous + transition + observation) and the first
    best predecessor in the transition model's order wins, so the path is madmom's. A state with one
    predecessor follows the state before it with probability 1 (adding log 1 = 0 changes no sum),
    and is heard as "no beat" unless it is one of ``beat_states``.
    """
    n_frames, n_rows = choice.shape
    prev = log_init.copy()
    cur = np.empty_like(prev)
    src = np.empty(len(sources))
    cand = np.empty(row_src.shape[1])
    for f in range(n_frames):
        for i in range(len(sources)):
            src[i] = prev[sources[i]]
        _step(prev, cur, dens[f, 0])  # one predecessor: the states inside a beat
        for s in beat_states:
            cur[s] = prev[s - 1] + dens[f, om_ptr[s]]
        for m in range(n_rows):  # several: the first state of a beat, after any tempo of the beat before
            s = rows[m]
            d = dens[f, om_ptr[s]]
            best = -np.inf
            for k in range(row_src.shape[1]):
                cand[k] = src[row_src[m, k]] + row_lp[m, k] + d
                best = max(best, cand[k])
            arg = 0
            while arg < len(cand) - 1 and not cand[arg] >= best:
                arg += 1
            cur[s] = best
            choice[f, m] = arg
        prev, cur = cur, prev
    state = np.argmax(prev)
    return state, prev[state]


@numba.njit(cache=True, nogil=True)
def _backtrack(state, slot, sources, row_src, choice, path):  # pragma: no cover - compiled
    """The path into ``state`` at the last frame: the state before, or the kept choice (``slot`` >= 0)."""
    for f in range(len(path) - 1, -1, -1):
        path[f] = state
        m = slot[state]
        state = state - 1 if m < 0 else sources[row_src[m, choice[f, m]]]


class ViterbiHMM:
    """madmom's ``HiddenMarkovModel`` with a compiled Viterbi for its bar-pointer models.

    In those models a state inside a beat has one predecessor, the state before it, and the first
    state of a beat has one per tempo of the beat before: the first kind is a shift of the previous
    frame's scores, the second a small max-plus product, and a back-pointer is kept only for the
    second (240 of the ~14 900 states of a 4/4 bar, a byte each per frame, where madmom keeps four
    bytes per state and frame).

    Parameters
    ----------
    hmm : madmom.ml.hmm.HiddenMarkovModel
        Its transition model, observation model and initial distribution are used as they are.

    Raises
    ------
    ValueError
        The transition model is not of that shape.
    """

    def __init__(self, hmm) -> None:
        self.transition_model = tm = hmm.transition_model
        self.observation_model = om = hmm.observation_model
        self.initial_distribution = hmm.initial_distribution
        starts = np.asarray(tm.pointers, np.int64)
        states = np.asarray(tm.states, np.int64)
        log_p = np.asarray(tm.log_probabilities, np.float64)
        counts = np.diff(starts)
        several = counts > 1
        single = np.flatnonzero(counts == 1)
        if not several[0] or np.any(states[starts[single]] != single - 1) or np.any(log_p[starts[single]] != 0) or counts.min() < 1:
            raise ValueError("not a bar-pointer transition model: a state inside a beat must follow the state before it")
        self.rows = np.flatnonzero(several)
        self.slot = np.full(len(counts), -1, np.int64)
        self.slot[self.rows] = np.arange(len(self.rows))
        width = counts.max()
        self.sources = np.unique(states[np.concatenate([np.arange(starts[s], starts[s + 1]) for s in self.rows])])
        where = {int(v): i for i, v in enumerate(self.sources)}
        self.row_src = np.zeros((len(self.rows), width), np.int64)
        self.row_lp = np.full((len(self.rows), width), -np.inf)
        for m, s in enumerate(self.rows):
            pointers = np.arange(starts[s], starts[s + 1])
            self.row_src[m, :len(pointers)] = [where[int(v)] for v in states[pointers]]
            self.row_lp[m, :len(pointers)] = log_p[pointers]
        self.choice_dtype = np.uint8 if width <= 256 else np.uint16
        self.om_ptr = np.asarray(om.pointers, np.int64)
        self.beat_states = np.flatnonzero((self.om_ptr > 0) & (counts == 1))

    def viterbi(self, observations: np.ndarray) -> tuple[np.ndarray, float]:
        """The best state path, as madmom's ``HiddenMarkovModel.viterbi``.

        Parameters
        ----------
        observations : np.ndarray [shape=(F, 2)]
            The networks' beat and downbeat activations.

        Returns
        -------
        path : np.ndarray [shape=(F,), dtype=uint32]
            Empty where no path has a finite probability.
        log_probability : float
        """
        dens = np.ascontiguousarray(self.observation_model.log_densities(observations), dtype=np.float64)
        choice = np.empty((len(dens), len(self.rows)), self.choice_dtype)
        with np.errstate(divide="ignore"):
            log_init = np.log(self.initial_distribution)
        state, log_p = _viterbi(dens, self.om_ptr, self.beat_states, self.sources, self.rows, self.row_src, self.row_lp, log_init, choice)
        if np.isinf(log_p):
            return np.empty(0, np.uint32), log_p
        path = np.empty(len(dens), np.int64)
        _backtrack(state, self.slot, self.sources, self.row_src, choice, path)
        return path.astype(np.uint32), log_p
