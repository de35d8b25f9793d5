#!/usr/bin/env bash
# GPU validation, one entry point (see BENCHMARKS.md, "GPU check"). Writes everything under $OUT.
#   on the GPU machine:  OUT=$OUT WHEEL_DIR=wheels bash benchmarks/gpu_check.sh      (~8 min at most)
#   dry run on a CPU box: bash benchmarks/gpu_check.sh --dry-run                       (tiny sizes)
# Each step has its own timeout; a failed step does not stop the next; exit codes -> $OUT/steps.json.
set -u
cd "$(dirname "$0")/.."
DRY=""
for a in "$@"; do
  case "$a" in
    --dry-run) DRY="--dry-run" ;;
    *) echo "usage: [OUT=dir] [WHEEL_DIR=dir] bash benchmarks/gpu_check.sh [--dry-run]" >&2; exit 2 ;;
  esac
done
OUT="${OUT:-./gpu_out}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
PY="${PYTHON:-python}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
export LEVIL_NO_PROGRESS=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
STEPS="$OUT/steps.tsv"; : > "$STEPS"
T_START=$(date +%s)

run_step() {  # name timeout_s command...
  local name="$1" limit="$2"; shift 2
  local t0=$(date +%s)
  echo "=== step $name (timeout ${limit}s) $(date +%T)"
  timeout --kill-after=10 "$limit" "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  local dt=$(( $(date +%s) - t0 ))
  printf '%s\t%s\t%s\t%s\n' "$name" "$rc" "$dt" "$limit" >> "$STEPS"
  tail -n 40 "$OUT/$name.log"
  echo "=== step $name: exit $rc in ${dt}s"
}

write_steps() {
  "$PY" - "$STEPS" "$OUT/steps.json" "$DRY" "$T_START" <<'PYEOF'
import json, sys, time
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
steps = [{"step": n, "exit_code": int(rc), "seconds": int(s), "timeout_s": int(t), "timed_out": int(rc) in (124, 137)}
         for n, rc, s, t in rows]
json.dump({"dry_run": sys.argv[3] == "--dry-run", "steps": steps, "total_s": int(time.time()) - int(sys.argv[4])},
          open(sys.argv[2], "w"), indent=2)
PYEOF
}

# ---- step 0: environment; decord from $WHEEL_DIR
env_step() {
  if [ -n "${WHEEL_DIR:-}" ] && ls "$WHEEL_DIR"/decord-*.whl >/dev/null 2>&1; then
    "$PY" -c "import decord" 2>/dev/null && echo "decord already imports" || \
      "$PY" -m pip install --no-deps --no-index "$WHEEL_DIR"/decord-*.whl
  else
    echo "no decord wheel (WHEEL_DIR=${WHEEL_DIR:-unset})"
  fi
  nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1 || echo "nvidia-smi failed or absent" >> "$OUT/nvidia-smi.txt"
  "$PY" - "$OUT" <<'PYEOF'
import json, os, platform, subprocess, sys
out = sys.argv[1]
d = {"dry_run": "--dry-run" in os.environ.get("GPU_CHECK_ARGS", ""), "python": sys.version, "platform": platform.platform(),
     "machine": platform.machine(), "cpu_count": os.cpu_count()}
def q(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=20).stdout.strip()
    except Exception as e:
        return f"unavailable: {e}"
d["nvidia_smi"] = open(os.path.join(out, "nvidia-smi.txt")).read()
d["nvidia_smi_query"] = q(["nvidia-smi", "--query-gpu=name,driver_version,memory.total,power.limit,clocks.max.sm",
                           "--format=csv,noheader"])
import torch
d.update(torch=torch.__version__, torch_cuda=torch.version.cuda, cuda_available=torch.cuda.is_available(),
         cudnn=torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None)
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    d.update(device_name=p.name, capability=f"{p.major}.{p.minor}", total_mem_gib=p.total_memory / 2**30,
             sm_count=p.multi_processor_count, device_count=torch.cuda.device_count())
    try:
        d["driver"] = torch.cuda.driver_version() if hasattr(torch.cuda, "driver_version") else None
    except Exception:
        pass
mods = {}
for m in ("av", "decord", "cv2", "transformers", "onnx", "onnxruntime", "tensorrt", "safetensors", "levil_edge"):
    try:
        mods[m] = getattr(__import__(m), "__version__", "imports")
    except Exception as e:
        mods[m] = f"absent ({type(e).__name__})"
d["modules"] = mods
json.dump(d, open(os.path.join(out, "env.json"), "w"), indent=2, default=str)
print(json.dumps({k: d[k] for k in d if k not in ("nvidia_smi",)}, indent=1, default=str))
PYEOF
}
export GPU_CHECK_ARGS="$DRY"
export -f env_step; export OUT PY WHEEL_DIR="${WHEEL_DIR:-}"
run_step env 45 bash -c env_step

# ---- step 1: GPU tests (gpu-marked = the ones that skip without CUDA)
run_step pytest_gpu $([ -n "$DRY" ] && echo 240 || echo 90) \
  "$PY" -m pytest -m gpu -q -rs -p no:cacheprovider --junitxml="$OUT/pytest_gpu.xml" \
  tests/test_students.py tests/test_train.py tests/test_adapt.py tests/test_export_tensorrt.py tests/test_caption.py
cp "$OUT/pytest_gpu.log" "$OUT/pytest_gpu.txt"

# ---- steps 2-4: benchmarks (each stops starting new measurements at its --budget-s)
WORK="$OUT/work"
if [ -n "$DRY" ]; then
  run_step train 180 "$PY" benchmarks/bench_gpu.py train --dry-run --out "$OUT" --work "$WORK" --simulate-no-av --compile-in-dry-run
  run_step teacher 120 "$PY" benchmarks/bench_gpu.py teacher --dry-run --out "$OUT" --work "$WORK" --simulate-no-av --full-model
  run_step infer 60 "$PY" benchmarks/bench_gpu.py infer --dry-run --out "$OUT" --work "$WORK" --compile-in-dry-run
else
  run_step train 220 "$PY" benchmarks/bench_gpu.py train --out "$OUT" --work "$WORK" --budget-s 190
  run_step teacher 60 "$PY" benchmarks/bench_gpu.py teacher --out "$OUT" --work "$WORK"
  run_step infer 80 "$PY" benchmarks/bench_gpu.py infer --out "$OUT" --work "$WORK" --budget-s 60
fi
rm -rf "$WORK"
write_steps
echo "=== done in $(( $(date +%s) - T_START ))s"; cat "$OUT/steps.json"
