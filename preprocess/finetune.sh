#!/usr/bin/env bash
# Build a downstream dataset's fine-tuning data: source/target text as the original
# builds it, Moses + BPE, and the binarized pair (x -> y) over the pre-training dictionary.
#
# Usage: preprocess/finetune.sh DATASET OUT_DIR [options]
#   DATASET               bc5cdr, ddi, kd-dti, pubmedqa or hoc
#   --data DIR            the data mirror (default: $BIOGPT_DATA or ../shared/data)
#   --bpe-codes FILE      fastBPE codes of the pre-trained model (default: DATA/biogpt/bpecodes)
#   --dict FILE           its dictionary (default: DATA/biogpt/dict.txt)
#   --variant NAME        target form (relations) or setting (pubmedqa); default: the original's
#   --workers N           processes (default 1)
#
# Writes OUT_DIR/raw/{split}.{x,y[,pmid]} (aligned), OUT_DIR/bpe/{split}.{x,y} and
# OUT_DIR/data-bin: the binarized pair with everything later steps need (dict.x.txt,
# bpecodes, {split}.pmid, manifest.json), ready for
#   fairseq-train OUT_DIR/data-bin --user-dir biogpt_fairseq --task language_modeling_prompt \
#     --learned-prompt 9 ...
set -euo pipefail

# --help: the usage on stdout, exit 0; a usage error: on stderr, exit 2
usage() { sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-2}"; }
repo=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-$repo/.venv/bin/python}
[ -x "$py" ] || py=python3

data=${BIOGPT_DATA:-$repo/../shared/data} codes="" dict="" workers=1 variant=default args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --data) data=$2; shift 2 ;;
    --bpe-codes) codes=$2; shift 2 ;;
    --dict) dict=$2; shift 2 ;;
    --workers) workers=$2; shift 2 ;;
    --variant) variant=$2; shift 2 ;;
    -h|--help) usage 0 ;;
    -*) echo "finetune.sh: unknown option $1" >&2; usage >&2 ;;
    *) args+=("$1"); shift ;;
  esac
done
[ ${#args[@]} -eq 2 ] || usage >&2
task=${args[0]} out=${args[1]}
codes=${codes:-$data/biogpt/bpecodes} dict=${dict:-$data/biogpt/dict.txt}
for f in "$codes" "$dict"; do [ -f "$f" ] || { echo "error: $f: no such file" >&2; exit 2; }; done

"$py" -m biogpt_fairseq.downstream.build "$task" --data "$data" --out "$out/raw" --variant "$variant"

splits=()
for split in train valid test; do
  [ -f "$out/raw/$split.x" ] || continue
  splits+=("$split")
  for side in x y; do
    "$py" -m biogpt_fairseq.data.tokenize --bpe-codes "$codes" --workers "$workers" \
      "$out/raw/$split.$side" -o "$out/bpe/$split.$side" 2>/dev/null
  done
done

prefs=()
for split in "${splits[@]}"; do prefs+=("--${split}pref" "$out/bpe/$split"); done
rm -rf "$out/data-bin.partial"
"$(dirname "$py")/fairseq-preprocess" --source-lang x --target-lang y "${prefs[@]}" \
  --destdir "$out/data-bin.partial" --joined-dictionary --srcdict "$dict" --workers "$workers" >/dev/null
for split in "${splits[@]}"; do
  [ ! -f "$out/raw/$split.pmid" ] || cp "$out/raw/$split.pmid" "$out/data-bin.partial/$split.pmid"
done
cp "$codes" "$out/data-bin.partial/bpecodes"
"$py" -m biogpt_fairseq.downstream.manifest "$out/raw" "$out/data-bin.partial"
rm -rf "$out/data-bin" && mv "$out/data-bin.partial" "$out/data-bin"
echo "finetune.sh: $task -> $out/data-bin (splits: ${splits[*]})" >&2
