"""Preprocessing speed (Moses + BPE): ours with 1 and 2 workers against Hugging Face's `BioGptTokenizer`
and against the plain path (sacremoses, then the fastBPE binding, in one process, no word cache).

    .venv/bin/python bench/tokenization.py [--pairs 5] [--replicate 16]

Corpus: the task datasets' abstracts (about 5.5k) and, for memory, the same replicated 16 times.
Each run is a fresh process (so its peak RSS is its own); figures are lines/s, interleaved, and
every mode's output is checked byte-identical to ours.
"""
import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from interleave import report  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MODES = ("ours1", "ours2", "hf", "plain")


def task_abstracts(data: Path):
    for name in ["BC5CDR/raw/train.json", "BC5CDR/raw/valid.json", "BC5CDR/raw/test.json", "DDI/raw/train.json",
                 "DDI/raw/valid.json", "DDI/raw/test.json", "KD-DTI/raw/valid.json", "KD-DTI/raw/test.json"]:
        for doc in json.loads((data / name).read_text()).values():
            yield " ".join(" ".join(filter(None, [doc.get("title", ""), doc["abstract"]])).split())
    for split in ("train", "valid", "test"):
        for line in (data / "PubMedQA/raw" / f"{split}.tsv").read_text().splitlines():
            yield line.split("\t")[0]


def peak_mb() -> float:
    """This process' peak RSS and its finished workers'. (VmHWM, not ru_maxrss: on Linux the latter
    keeps the high-water mark of the process that forked and exec'd us.)"""
    with open("/proc/self/status") as status:
        own_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    return max(own_kb, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024


def run_mode(mode: str, corpus: Path, codes: Path) -> None:
    """In this (fresh) process: tokenize `corpus` one way; print lines/s, peak RSS and the output's hash."""
    digest = hashlib.sha256()
    start = time.perf_counter()
    if mode.startswith("ours"):  # the command line, streaming from file to file
        from biogpt_fairseq.data.tokenize import main as tokenize

        out = corpus.with_suffix(f".{mode}")
        tokenize([str(corpus), "--bpe-codes", str(codes), "--workers", mode[-1], "-o", str(out)])
        elapsed, peak = time.perf_counter() - start, peak_mb()
        n_lines = 0
        with open(out, "rb") as handle:
            for line in handle:
                digest.update(line)
                n_lines += 1
        out.unlink()
    else:
        lines = corpus.read_text(encoding="utf-8").split("\n")[:-1]
        if mode == "plain":
            import fastBPE
            from sacremoses import MosesTokenizer

            moses, bpe = MosesTokenizer(lang="en"), fastBPE.fastBPE(str(codes))
            output = [bpe.apply([" ".join(w for w in moses.tokenize(line, aggressive_dash_splits=True,
                                                                    return_str=False, escape=True) if w)])[0]
                      for line in lines]
        else:
            from transformers import BioGptTokenizer

            tokenizer = BioGptTokenizer(str(corpus.parent / "vocab.json"), str(corpus.parent / "merges.txt"))
            output = [" ".join(t[:-4] if t.endswith("</w>") else t + "@@" for t in tokenizer.tokenize(line))
                      for line in lines]
        elapsed, peak = time.perf_counter() - start, peak_mb()
        for line in output:
            digest.update(line.encode() + b"\n")
        n_lines = len(output)
    print(json.dumps({"lines_per_s": n_lines / elapsed, "peak_mb": peak, "sha": digest.hexdigest()[:16]}))


def measure(mode: str, corpus: Path, codes: Path) -> dict:
    result = subprocess.run([sys.executable, __file__, "--run", mode, "--corpus", str(corpus), "--codes", str(codes)],
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=os.environ.get("BIOGPT_DATA", str(REPO.parent / "shared" / "data")))
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--replicate", type=int, default=16)
    parser.add_argument("--run", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--corpus", help=argparse.SUPPRESS)
    parser.add_argument("--codes", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        return run_mode(args.run, Path(args.corpus), Path(args.codes))

    from biogpt_fairseq.models.hf_conversion import hf_vocab, merges_from_bpecodes, read_dict_symbols

    data = Path(args.data)
    codes = data / "biogpt" / "bpecodes"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "vocab.json").write_text(json.dumps(hf_vocab(read_dict_symbols(data / "biogpt" / "dict.txt"))))
        (tmp / "merges.txt").write_text("\n".join(merges_from_bpecodes(codes)) + "\n")
        abstracts = list(task_abstracts(data))
        small, large = tmp / "abstracts.txt", tmp / "replicated.txt"
        small.write_text("".join(a + "\n" for a in abstracts), encoding="utf-8")
        large.write_text("".join(a + "\n" for a in abstracts) * args.replicate, encoding="utf-8")
        print(f"tokenization (Moses + BPE, released vocabulary), {len(abstracts)} abstracts, {os.cpu_count()} cores",
              flush=True)
        figures = {mode: [] for mode in MODES}
        for _ in range(args.pairs):  # interleaved: every mode once per round
            for mode in MODES:
                figures[mode].append(measure(mode, small, codes))
        hashes = {mode: {f["sha"] for f in runs} for mode, runs in figures.items()}
        print(f"outputs byte-identical in all modes: {len(set().union(*hashes.values())) == 1}")
        for mode in MODES:
            runs = figures[mode]
            print(f"  {mode}: {sorted(f['lines_per_s'] for f in runs)[len(runs) // 2]:.0f} lines/s, "
                  f"peak {max(f['peak_mb'] for f in runs):.0f} MB")
        for ours in ("ours1", "ours2"):
            for peer in ("hf", "plain"):
                ratios = [a["lines_per_s"] / b["lines_per_s"] for a, b in zip(figures[ours], figures[peer])]
                pair = {"ours": sorted(f["lines_per_s"] for f in figures[ours])[args.pairs // 2],
                        "peer": sorted(f["lines_per_s"] for f in figures[peer])[args.pairs // 2],
                        "ratio": sorted(ratios)[len(ratios) // 2], "ratio_min": min(ratios), "ratio_max": max(ratios)}
                report(f"{ours} vs {peer} (lines/s)", "lines/s", peer, pair)
        for mode in ("ours1", "ours2"):
            grown = measure(mode, large, codes)
            base = figures[mode][0]
            print(f"{mode} on the {args.replicate}x corpus ({args.replicate * len(abstracts)} lines): "
                  f"{grown['lines_per_s']:.0f} lines/s, peak {grown['peak_mb']:.0f} MB "
                  f"(vs {base['peak_mb']:.0f} MB on 1x)", flush=True)


if __name__ == "__main__":
    main()
