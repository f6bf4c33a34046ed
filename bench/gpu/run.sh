#!/usr/bin/env bash
# The device check of issue 30: the paper's GPU path (fp16 training, fine-tuning, generation and
# extraction) run on CUDA, in one script sized to end within about 5 minutes on one H200.
#
# On the device (after bench/gpu/prepare.sh here; .whl and .gpudata carried):
#   bash bench/gpu/run.sh                       # OUT=$OUT, DEVICE=cuda, SCALE=full
# Rehearsal here on the CPU, the same steps and code paths at toy sizes:
#   DEVICE=cpu SCALE=small OUT=/tmp/gpu_out PY=.venv/bin/python INSTALL=0 bash bench/gpu/run.sh
#
# Steps (each logs to $OUT/<step>.log, has its own time limit, and a failing step does not stop the
# next; a step that needs an earlier one's output says so and fails alone):
#   install        the wheels into $SITE, fairseq-fixed and fastBPE built there (Makefile's recipe)
#   tests          tests/test_gpu.py (the suite's GPU tests)
#   pretrain_tiny  tiny pre-training from preprocess/pretrain.sh shards, fp16: loss, scaler, save, resume
#   pretrain_full  pretrain=biogpt_8xv100 (24 x 1024) on one GPU, a few dozen updates: tokens/s, memory
#   finetune       finetune=tiny_cpu with precision=fp16 on BC5CDR, then biogpt-infer and biogpt-extract
#                  on CUDA and on the CPU (fp32), compared
#   generation     24 x 1024 generation: ours (fairseq engine) against Hugging Face, fp16 and bf16
# $OUT gets at most 8 files (the device tool's limit): the 6 logs, summary.json and details.tar.gz
# (infer/extract outputs, the loss curve).
set -uo pipefail
repo=${REPO:-$(cd "$(dirname "$0")/../.." && pwd)}  # REPO= when run from a copy of this script
cd "$repo"
export OUT=${OUT:-/tmp/gpu_out} DEVICE=${DEVICE:-cuda} SCALE=${SCALE:-full} PY=${PY:-python3}
export SITE=${SITE:-/tmp/site} WORK=${WORK:-/tmp/biogpt_gpu} INSTALL=${INSTALL:-1}
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 TOKENIZERS_PARALLELISM=false
export REPO=$repo GPUDATA=$repo/.gpudata
mkdir -p "$OUT" "$WORK/details"
# our package from the working tree (no pip install -e: the command line runs `python -m` forms);
# $SITE holds what the wheels and the builds install
if [ "$INSTALL" = 1 ]; then export PYTHONPATH=$SITE:$repo; export PATH=$SITE/bin:$PATH; else export PYTHONPATH=$repo; fi
SHARDS=$GPUDATA/pubmed/data-bin/shard0:$GPUDATA/pubmed/data-bin/shard1
if [ "$DEVICE" = cuda ]; then
  ON_DEVICE=(common.cpu=false) FP16=(common.fp16=true) CPU_FLAG=()
else  # the rehearsal: fairseq has no fp16 on the CPU
  ON_DEVICE=(common.cpu=true) FP16=(common.fp16=false) CPU_FLAG=(--cpu)
fi
if [ "$SCALE" = full ]; then
  TINY_UPDATES=300 RESUME_UPDATES=50 FULL_UPDATES=30 FULL_FREQ=8 FT_EPOCHS=5 GEN_ARGS=() FT_EXTRA=()
  FULL_MODEL=()
else
  TINY_UPDATES=12 RESUME_UPDATES=4 FULL_UPDATES=3 FULL_FREQ=2 FT_EPOCHS=1
  GEN_ARGS=(--small --modes greedy1 abstracts64) FT_EXTRA=(dataset.batch_size=16 task.max_source_positions=64)  # light on a CPU
  FULL_MODEL=(model=tiny model._name=transformer_lm_biogpt_tiny)  # 24 x 1024 is too slow for a CPU rehearsal
fi
export SHARDS TINY_UPDATES RESUME_UPDATES FULL_UPDATES FULL_FREQ FT_EPOCHS
HYDRA=("$PY" bench/gpu/with_peak_memory.py fairseq_cli.hydra_train --config-dir hydra_configs)

started=$(date +%s)
: >"$WORK/details/steps.tsv"
# The whole script ends within $BUDGET seconds (the device call's timeout_s less a margin), so that
# summary.json and details.tar.gz are written: a step gets its own limit or what is left, if less.
BUDGET=${BUDGET:-560}
step() {  # step NAME SECONDS FUNCTION: run it under a time limit, log to $OUT/NAME.log
  local name=$1 limit=$(($2 * ${LIMIT_SCALE:-1})) fn=$3 begin rc left  # (LIMIT_SCALE: a slow rehearsal's)
  # STEPS="install finetune ...": only those (a rerun after a fix; finetune needs pretrain_tiny's checkpoint)
  if [ -n "${STEPS:-}" ] && [[ " $STEPS " != *" $name "* ]]; then return; fi
  begin=$(date +%s)
  left=$((BUDGET - 20 - (begin - started)))
  if [ "$left" -lt 30 ]; then
    echo "=== $name skipped: ${left}s left of the ${BUDGET}s budget" | tee "$OUT/$name.log"
    printf '%s\t%s\t%s\n' "$name" skipped 0 >>"$WORK/details/steps.tsv"
    return
  fi
  [ "$left" -lt "$limit" ] && limit=$left
  echo "=== $name (limit ${limit}s) at +$((begin - started))s"
  timeout --kill-after 15 "$limit" bash -euo pipefail -c "source bench/gpu/step_env.sh; $fn" >"$OUT/$name.log" 2>&1
  rc=$?
  printf '%s\t%s\t%s\n' "$name" "$rc" "$(($(date +%s) - begin))" | tee -a "$WORK/details/steps.tsv"
  [ $rc = 0 ] || { echo "--- $name failed ($rc; 124 = time limit): last lines"; tail -n 15 "$OUT/$name.log"; }
}

install() {
  echo "python: $($PY -c 'import sys; print(sys.version)')"; nvidia-smi || true; nproc
  if [ -f "$SITE/.installed" ]; then echo "INSTALL_OK (kept from an earlier run on this machine)"; return; fi
  "$PY" -m pip --version
  mkdir -p "$SITE" "$WORK/src"
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" .whl/*.whl
  # numpy<2 (fairseq 0.12 uses np.compat): check the image's compiled packages still import with it;
  # if one does not, keep the image's numpy 2 and give fairseq the one name it uses from np.compat.
  if ! "$PY" -c "import numpy, torch, scipy, sklearn, pandas, matplotlib, transformers; torch.zeros(2).numpy()"; then
    echo "NUMPY_FALLBACK: the image's packages need its numpy 2: numpy 1.26 removed, np.compat shimmed"
    rm -rf "$SITE"/numpy "$SITE"/numpy-*.dist-info "$SITE"/numpy.libs
    printf '%s\n' "import numpy, types" "if not hasattr(numpy, 'compat'):" \
      "    numpy.compat = types.SimpleNamespace(long=int)" >"$SITE/sitecustomize.py"
  fi
  tar xzf .whl/src/fairseq_fixed-0.12.3.1.tar.gz -C "$WORK/src"
  tar xzf .whl/src/fastBPE-0.1.0.tar.gz -C "$WORK/src"
  # fairseq's setup.py adds CUDA extensions when CUDA_HOME is set: unset, as on the CPU install.
  # Its three torch C++ extensions (libbase: BASE layers, libnat: non-autoregressive models,
  # alignment_train_cpu_binding: an example's) serve nothing BioGPT runs, fairseq imports them only
  # inside those models, and they are most of the build (about 200 s of one core here, built one at a
  # time: torch's BuildExtension shares one build.ninja, so `build_ext -j` fails). FULL_FAIRSEQ=1 keeps them.
  if [ "${FULL_FAIRSEQ:-0}" != 1 ]; then
    "$PY" - "$WORK/src/fairseq_fixed-0.12.3.1/setup.py" <<'PYEOF'
import sys
from pathlib import Path
setup = Path(sys.argv[1])
text = setup.read_text()
assert text.count('extensions.extend(\n    [\n        cpp_extension.CppExtension(\n            "fairseq.libbase"') == 1
setup.write_text(text.replace("extensions.extend(", "torch_cpu_extensions_left_out = (", 1))
PYEOF
  fi
  time env -u CUDA_HOME MAX_JOBS=16 "$PY" -m pip install -q --no-index --no-deps --no-build-isolation --no-compile \
    --target "$SITE" "$WORK/src/fairseq_fixed-0.12.3.1" "$WORK/src/fastBPE-0.1.0"
  mkdir -p "$SITE/bin"
  g++ -std=c++11 -O3 -pthread "$WORK/src/fastBPE-0.1.0/fastBPE/main.cc" -o "$SITE/bin/fast"
  "$PY" - <<'PYEOF'
import importlib, sys
for name in ["numpy", "torch", "fairseq", "fastBPE", "hydra", "omegaconf", "sacremoses", "bioc", "transformers",
             "sklearn", "biogpt_fairseq.plugin"]:
    module = importlib.import_module(name)
    print(f"{name} {getattr(module, '__version__', '')} {getattr(module, '__file__', '')}")
import torch
print("cuda", torch.cuda.is_available(), torch.version.cuda, torch.cuda.get_device_name() if torch.cuda.is_available() else "")
import fairseq.data.data_utils_fast, fairseq.data.token_block_utils_fast  # the Cython extensions
print("INSTALL_OK")
PYEOF
  touch "$SITE/.installed"  # a rerun on the same (still warm) machine skips the install
}

tests() {
  "$PY" -m pytest -q -rfEs -p no:cacheprovider --durations=10 tests/test_gpu.py
}

pretrain_tiny() {  # the tiny CPU recipe moved to the GPU in fp16, then resumed from its checkpoint
  # It keeps the recipe's chunked_cross_entropy (its oneDNN and glibc pieces must stay out on CUDA);
  # should that fail on CUDA, cross_entropy in a fresh folder, so that the steps after have a checkpoint.
  local save=$WORK/tiny criterion=()
  tiny_run() {
    "${HYDRA[@]}" --config-name pretrain pretrain=tiny_cpu "task.data=$SHARDS" "${ON_DEVICE[@]}" "${FP16[@]}" \
      "${criterion[@]}" dataset.batch_size=16 "optimization.max_update=$1" "checkpoint.save_dir=$save" \
      common.log_interval=10 "hydra.job_logging.handlers.file.filename=$WORK/hydra_tiny.log"
  }
  if ! tiny_run "$TINY_UPDATES"; then
    echo "CHUNKED_CROSS_ENTROPY_FAILED: again with +criterion=cross_entropy"
    save=$WORK/tiny_ce criterion=(+criterion=cross_entropy)
    tiny_run "$TINY_UPDATES"
    rm -rf "$WORK/tiny" && ln -s "$save" "$WORK/tiny"
  fi
  echo "RESUME_FROM $(ls "$save")"
  tiny_run "$((TINY_UPDATES + RESUME_UPDATES))"
}

pretrain_full() {  # the paper's recipe on one GPU: the world of 8 made 1, update_freq 64 -> $FULL_FREQ
  # dataset.num_workers=0 (the recipe's 2 loader processes): on the H200 (first device run) the process
  # with 2 workers took about 40 s to end after its last update, and the wide-batch run then stalled
  # at its epoch 4's start until the step's limit; the runs with 0 workers (tiny, fine-tuning) did not
  full_run() {
    "${HYDRA[@]}" --config-name pretrain pretrain=biogpt_8xv100 "task.data=$SHARDS" "${FULL_MODEL[@]}" \
      "${ON_DEVICE[@]}" "${FP16[@]}" distributed_training.distributed_world_size=1 \
      "optimization.max_update=$FULL_UPDATES" lr_scheduler.warmup_updates=10 common.log_interval=5 \
      checkpoint.no_save=true dataset.disable_validation=true "checkpoint.save_dir=$WORK/full" \
      dataset.num_workers=0 \
      "hydra.job_logging.handlers.file.filename=$WORK/hydra_full.log" "$@"
  }
  full_run "optimization.update_freq=[$FULL_FREQ]"
  # the same tokens an update in one batch of $FULL_FREQ samples: what one such GPU does with the
  # memory the paper's V100s did not have (max_tokens 1024 there)
  echo "=== WIDE_BATCH"
  full_run "dataset.max_tokens=$((1024 * FULL_FREQ))" "optimization.update_freq=[1]"
}

finetune() {
  local pretrained=$WORK/tiny/checkpoint_last.pt save=$WORK/ft data_bin=$GPUDATA/bc5cdr/data-bin
  [ -f "$pretrained" ] || { echo "no $pretrained: pretrain_tiny failed"; exit 3; }
  # the GPU recipes' loss (finetune.yaml's) in place of the CPU recipe's chunked_cross_entropy
  "${HYDRA[@]}" --config-name finetune finetune=tiny_cpu "${ON_DEVICE[@]}" "${FP16[@]}" +criterion=cross_entropy \
    "task.data=$data_bin" "checkpoint.finetune_from_model=$pretrained" "checkpoint.save_dir=$save" \
    "optimization.max_epoch=$FT_EPOCHS" "${FT_EXTRA[@]}" \
    "hydra.job_logging.handlers.file.filename=$WORK/hydra_ft.log"
  ls -la "$save"
  # biogpt-infer: the original's chain (checkpoint averaging, greedy, decoding, scores), on the device
  # and on the CPU in fp32, on the same averaged checkpoint (written by the first run)
  local infer=("$PY" -m biogpt_fairseq.downstream.infer "$save" --data-bin "$data_bin" --data "$GPUDATA/data"
               --max-new-tokens 64)
  time "${infer[@]}" --out "$WORK/details/infer_$DEVICE" "${CPU_FLAG[@]}"
  time "${infer[@]}" --out "$WORK/details/infer_cpu_fp32" --cpu --checkpoint checkpoint_avg.pt
  if [ "$DEVICE" = cuda ]; then
    for dtype in fp16 bf16; do  # reduced-precision decoding on CUDA (the API's dtype option)
      time "${infer[@]}" --out "$WORK/details/infer_cuda_$dtype" --checkpoint checkpoint_avg.pt --dtype "$dtype" \
        || echo "INFER_DTYPE_FAILED $dtype"
    done
  fi
  # biogpt-extract over the official PubTator test file's first 100 documents, on the device and on the CPU
  local extract=("$PY" -m biogpt_fairseq.downstream.extract "$save/checkpoint_avg.pt"
                 "$GPUDATA/data/BC5CDR/raw/CDR_TestSet.first100.PubTator.txt" --data-bin "$data_bin" --max-new-tokens 64
                 --no-progress)
  time "${extract[@]}" --out "$WORK/details/extract_$DEVICE.jsonl" "${CPU_FLAG[@]}"
  time "${extract[@]}" --out "$WORK/details/extract_cpu_fp32.jsonl" --cpu
  "$PY" bench/gpu/compare_runs.py "$WORK/details" "$DEVICE"
}

generation() {
  "$PY" bench/gpu/generation.py --data "$GPUDATA/data" --device "$DEVICE" "${GEN_ARGS[@]}" \
    --json "$WORK/details/generation.json"
}

export -f install tests pretrain_tiny pretrain_full finetune generation
export HYDRA_STR="${HYDRA[*]}"
# (arrays do not cross `bash -c`: each step rebuilds them from these)
export ON_DEVICE_STR="${ON_DEVICE[*]}" FP16_STR="${FP16[*]}" CPU_FLAG_STR="${CPU_FLAG[*]:-}"
export FULL_MODEL_STR="${FULL_MODEL[*]:-}" GEN_ARGS_STR="${GEN_ARGS[*]:-}" FT_EXTRA_STR="${FT_EXTRA[*]:-}"

[ "$INSTALL" = 1 ] && step install 200 install
step tests 90 tests
step pretrain_tiny 100 pretrain_tiny
step pretrain_full 120 pretrain_full
step finetune 200 finetune
step generation 170 generation

cp "$WORK"/hydra_*.log "$WORK/details/" 2>/dev/null || true
"$PY" bench/gpu/summarize.py "$OUT" "$WORK/details" --device "$DEVICE" --scale "$SCALE" || echo "summarize failed"
tar czf "$OUT/details.tar.gz" -C "$WORK" details
echo "total $(($(date +%s) - started))s"
