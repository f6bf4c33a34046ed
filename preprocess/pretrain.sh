#!/usr/bin/env bash
# Build BioGPT pre-training data from PubMed XML: text, tokens, vocabulary and
# binarized shards. Each step is a module of biogpt_fairseq (see its --help).
#
# Usage: preprocess/pretrain.sh [options] OUT_DIR PUBMED.xml[.gz] [...]
#   --bpe-codes FILE      use released fastBPE codes (with --dict) instead of learning them
#   --dict FILE           the fairseq dictionary that goes with --bpe-codes
#   --merges N            BPE merges to learn when no codes are given (default 40000)
#   --extra FILE          also pre-train on this text, one document per line (repeatable)
#   --exclude-pmids FILE  leave out these PMIDs, e.g. downstream test documents
#   --shards N            training shards (default 1)
#   --valid-every K       every K-th document goes to validation (default 100)
#   --workers N           processes for tokenization and binarization (default 1)
#
# Writes OUT_DIR/corpus.txt + corpus.pmid (aligned), corpus.bpe (corpus.txt then
# the --extra files), bpecodes, dict.txt and data-bin/shard0..N-1; then
#   fairseq-train OUT_DIR/data-bin/shard0:OUT_DIR/data-bin/shard1:... --user-dir biogpt_fairseq ...
set -euo pipefail

# --help: the usage on stdout, exit 0; a usage error: on stderr, exit 2
usage() { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-2}"; }
repo=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-$repo/.venv/bin/python}
[ -x "$py" ] || py=python3

codes="" dict="" merges=40000 shards=1 valid_every=100 workers=1 exclude=() extras=() args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --bpe-codes) codes=$2; shift 2 ;;
    --dict) dict=$2; shift 2 ;;
    --merges) merges=$2; shift 2 ;;
    --extra) extras+=("$2"); shift 2 ;;
    --exclude-pmids) exclude=(--exclude-pmids "$2"); shift 2 ;;
    --shards) shards=$2; shift 2 ;;
    --valid-every) valid_every=$2; shift 2 ;;
    --workers) workers=$2; shift 2 ;;
    -h|--help) usage 0 ;;
    -*) echo "pretrain.sh: unknown option $1" >&2; usage >&2 ;;
    *) args+=("$1"); shift ;;
  esac
done
[ ${#args[@]} -ge 2 ] || usage >&2
out=${args[0]}
xml=("${args[@]:1}")
if { [ -n "$codes" ] && [ -z "$dict" ]; } || { [ -z "$codes" ] && [ -n "$dict" ]; }; then
  echo "pretrain.sh: --bpe-codes and --dict go together" >&2; exit 2
fi
mkdir -p "$out"

"$py" -m biogpt_fairseq.data.pubmed "${xml[@]}" --out "$out/corpus.txt" "${exclude[@]}"

if [ -n "$codes" ]; then
  "$py" -m biogpt_fairseq.data.tokenize --bpe-codes "$codes" --workers "$workers" \
    "$out/corpus.txt" "${extras[@]}" -o "$out/corpus.bpe"
  cp "$codes" "$out/bpecodes"
  cp "$dict" "$out/dict.txt"
else
  "$py" -m biogpt_fairseq.data.tokenize --workers "$workers" "$out/corpus.txt" "${extras[@]}" -o "$out/corpus.tok"
  "$py" -m biogpt_fairseq.data.vocab learn-bpe "$out/corpus.tok" --merges "$merges" -o "$out/bpecodes"
  "$py" -m biogpt_fairseq.data.tokenize --pretokenized --bpe-codes "$out/bpecodes" --workers "$workers" \
    "$out/corpus.tok" -o "$out/corpus.bpe"
  "$py" -m biogpt_fairseq.data.vocab build-dict "$out/corpus.bpe" -o "$out/dict.txt" --workers "$workers"
fi

"$py" -m biogpt_fairseq.data.shards "$out/corpus.bpe" --dict "$out/dict.txt" --out "$out/data-bin" \
  --shards "$shards" --valid-every "$valid_every" --workers "$workers"
