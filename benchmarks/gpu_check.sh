#!/usr/bin/env bash
# The GPU check (one H100 or H200, at most 8 minutes, no network, random weights from a config):
#   1. mot train vs a bare transformers loop: tokens/s and MFU, Qwen3-1.7B shape, 8k-token sequences,
#      bf16 (benchmarks/gpu_train.py);
#   2. the vllm backend vs a raw LLM.generate on the same prompts (benchmarks/vllm_throughput.py),
#      when vllm is importable there (the lent machines have no vllm: carry a wheel to run it).
# Run from the repository root:  bash benchmarks/gpu_check.sh [workdir]
# Record what it prints, with the card, in benchmarks/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
WORK=${1:-/tmp/mot-gpu-check}
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
timeout 330 "$PY" benchmarks/gpu_train.py --workdir "$WORK/train" --seq 8192 --steps 10
if "$PY" -c "import vllm" 2>/dev/null; then
    timeout 140 "$PY" benchmarks/vllm_throughput.py --model "$WORK/train/model" --dtype bfloat16 \
        --prompts 512 --n 4 --max-tokens 512 --repeat 2 --engine '{"gpu_memory_utilization": 0.85}'
else
    echo "vllm: not importable on this machine; the backend-vs-raw check was skipped"
fi
