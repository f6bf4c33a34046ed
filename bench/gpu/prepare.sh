#!/usr/bin/env bash
# Run HERE (not on the GPU machine) before the device check of bench/gpu/run.sh:
#  - .whl/     Python 3.12 wheels of what the device image lacks (it reaches no registry), and the
#              sdists of fairseq-fixed and fastBPE that run.sh builds there against its CUDA torch;
#  - .gpudata/ the few data files the check needs (the data mirror ../shared does not travel),
#              already preprocessed here with preprocess/*.sh so no device time goes to it.
# Both are git-excluded and named in the run call's `carry`. Prints their sizes (limit: 64 MiB
# with the working tree).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
data=${BIOGPT_DATA:-$repo/../shared/data}
py=$repo/.venv/bin/python
exclude=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$exclude")"
for path in /.whl/ /.gpudata/; do grep -qxF "$path" "$exclude" 2>/dev/null || echo "$path" >>"$exclude"; done

# --- wheels for CPython 3.12 on x86-64 (the device's python3) ---
mkdir -p .whl
platforms=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
           --platform manylinux2014_x86_64 --platform manylinux1_x86_64)
# numpy<2: fairseq 0.12 uses np.compat (gone in numpy 2); the device's torch 2.11 is built on the
# numpy 2 ABI, which runs on numpy 1.x too. bitarray is compiled; the rest is pure Python.
"$py" -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp "${platforms[@]}" -d .whl \
  numpy==1.26.4 bitarray==3.12.3 hydra-core==1.3.2 omegaconf==2.3.0 sacremoses==0.1.1 bioc==2.1 \
  jsonlines==4.0.0 intervaltree==3.2.1
# antlr4-python3-runtime 4.9.3 (hydra's pin) and docopt (bioc's) exist only as sdists: pure Python,
# so a wheel built here installs there.
for sdist in antlr4-python3-runtime==4.9.3 docopt==0.6.2; do
  name=${sdist%%==*}; ls .whl/"${name//-/_}"-*.whl >/dev/null 2>&1 || \
    "$py" -m pip wheel -q --disable-pip-version-check --no-deps -w .whl "$sdist"
done
# the two sources built there (Makefile's recipe: --no-build-isolation --no-deps)
mkdir -p .whl/src
"$py" -m pip download -q --disable-pip-version-check --no-deps --no-build-isolation --no-binary :all: -d .whl/src \
  fairseq-fixed==0.12.3.1 fastBPE==0.1.0

# --- data, preprocessed here with the project's own scripts ---
mkdir -p .gpudata
# pre-training shards from the real PubMed excerpt with the released vocabulary (24 x 1024 needs it)
[ -f .gpudata/pubmed/data-bin/shard1/train.bin ] || \
  PYTHON=$py preprocess/pretrain.sh .gpudata/pubmed "$data"/pubmed/*.xml.gz \
    --bpe-codes "$data/biogpt/bpecodes" --dict "$data/biogpt/dict.txt" --shards 2 --valid-every 20 --workers 2
rm -f .gpudata/pubmed/corpus.txt .gpudata/pubmed/corpus.bpe  # only data-bin is read there
# BC5CDR fine-tuning data over the released vocabulary, and its raw test set for infer/extract
[ -f .gpudata/bc5cdr/data-bin/manifest.json ] || \
  PYTHON=$py preprocess/finetune.sh bc5cdr .gpudata/bc5cdr --data "$data" --workers 2
mkdir -p .gpudata/data/BC5CDR/raw .gpudata/data/biogpt
cp "$data"/BC5CDR/raw/test.json "$data"/BC5CDR/raw/test.entities.json "$data"/BC5CDR/raw/CDR_TestSet.PubTator.txt \
   .gpudata/data/BC5CDR/raw/
cp "$data/biogpt/bpecodes" "$data/biogpt/dict.txt" .gpudata/data/biogpt/
# biogpt-extract's input: the official test file's first 100 documents (a PubTator document ends
# with an empty line), so that its CPU run stays short
awk 'BEGIN { RS = ""; ORS = "\n\n" } NR <= 100' "$data"/BC5CDR/raw/CDR_TestSet.PubTator.txt \
  >.gpudata/data/BC5CDR/raw/CDR_TestSet.first100.PubTator.txt
du -sh .whl .gpudata
du -sh --exclude=.venv --exclude=.git --exclude=.whl --exclude=.gpudata .
