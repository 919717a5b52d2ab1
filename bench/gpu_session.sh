#!/usr/bin/env bash
# The GPU figures of BENCHMARKS.md, on a machine with one NVIDIA GPU whose python3 has a CUDA
# torch but not this project's other packages: they come as wheels in .whl/ (see BENCHMARKS.md,
# "On a GPU", for how they were fetched). Writes each table to $OUT (or bench/results/gpu).
#   bash bench/gpu_session.sh pool    # the reward pool: bf16 / fp32, one actor / four sharing the GPU
#   bash bench/gpu_session.sh rl      # the PPO learner on CPU / on the GPU, the pool on the GPU
set -o pipefail
out=${OUT:-bench/results/gpu}
mkdir -p "$out"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 RAY_DEDUP_LOGS=0
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/device.txt"
python3 -c "import sys, torch, ray; print(sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'ray', ray.__version__)" | tee -a "$out/device.txt" || exit 1
case "$1" in
  pool)
    for spec in "1 1 bf16" "1 1 fp32" "4 0.25 bf16" "4 0.25 fp32"; do
      set -- $spec
      echo "== pool: $1 actor(s) at $2 GPU, $3"
      python3 bench/bench_pool.py --gpu --edits 8192 --actors "$1" --gpu-share "$2" --precision "$3" 2>"$out/pool_$1_$3.err" | tee "$out/pool_$1_$3.txt" || tail -30 "$out/pool_$1_$3.err"
    done ;;
  rl)
    python3 bench/bench_rl.py --gpu --cpus 16 --runners 4 --iterations 5 2>"$out/rl.err" | tee "$out/rl.txt" || tail -40 "$out/rl.err" ;;
  *) echo "usage: $0 pool|rl" >&2; exit 2 ;;
esac
