#!/usr/bin/env bash
# The GPU check, for a machine with one NVIDIA GPU (H100-class). NOT RUN YET: no GPU was available
# when it was written (see README "Scaling up").
#
#   bash benchmarks/gpu_check.sh            # then paste its output into the issue
#
# 1. installs alignbench with the vllm extra into a fresh venv (.venv-gpu; GPU_CHECK_VENV to change),
# 2. runs the quickstart with generation.backend vllm (the engine built once, weights pushed in place),
# 3. fits DPO on a GPT-2-small-shaped model (12 × 768, vocabulary 50,257) under accelerate with bf16,
#    then samples it with vLLM before and after one more optimiser step (one weight sync),
# and prints tokens/s and peak GPU memory. Budget after the install: 10 minutes (each step is cut at 5).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${GPU_CHECK_OUT:-runs/gpu-check}
VENV=${GPU_CHECK_VENV:-.venv-gpu}
STEP_LIMIT=${GPU_CHECK_STEP_LIMIT:-300}

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "gpu_check: no NVIDIA GPU here (nvidia-smi missing or failing); run it on a GPU machine" >&2
  exit 2
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PIP_DISABLE_PIP_VERSION_CHECK=1

t=$SECONDS
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q -e '.[vllm]' || { echo "gpu_check: installing the vllm extra failed" >&2; exit 1; }
echo "== install: $((SECONDS - t)) s; $("$VENV/bin/python" -c 'import torch, vllm, transformers; print("torch", torch.__version__, "vllm", vllm.__version__, "transformers", transformers.__version__)')"

status=0
step() {
  local name=$1 t=$SECONDS rc
  shift
  echo "== $name"
  timeout "$STEP_LIMIT" "$@"
  rc=$?
  echo "== $name: exit $rc, $((SECONDS - t)) s"
  [ "$rc" -eq 0 ] || status=1
}
t_all=$SECONDS
step "quickstart, generation.backend vllm" \
  "$VENV/bin/python" -m alignbench run quickstart --set generation.backend=vllm \
  --run-dir "$OUT/quickstart-vllm" --leaderboard-dir "$OUT/quickstart-vllm-leaderboard" --quiet
step "DPO, GPT-2-small shape, accelerate bf16, then vLLM sampling" \
  "$VENV/bin/accelerate" launch --num_processes 1 --num_machines 1 --mixed_precision bf16 --dynamo_backend no \
  benchmarks/gpu_check_dpo.py
echo "== gpu_check: $((SECONDS - t_all)) s after the install, exit $status"
exit "$status"
