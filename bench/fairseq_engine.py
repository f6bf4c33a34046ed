"""What each piece of runtime/sequence_generator.py buys the fairseq engine: speed and memory with each
switched off, against the engine as it ships, on the same model and sources.

    .venv/bin/python bench/fairseq_engine.py [--layers 24 --width 1024] [--rounds 2]
        [--modes greedy1 greedy16 beam5 abstracts16] [--variants ...]

The model and sources are bench/engines.py's (BioGPT's shape, random weights, the released vocabulary;
32-token prompts of real abstracts and 64 new tokens, or 16 whole abstracts and 32). The fairseq engine
runs through our interface (`model.engine.generate`), fp32. A variant switches pieces off by replacing
what decides them, for its runs only:

    as shipped            everything on
    no kernel timing      steps of one row on oneDNN's packed matrices, untimed (the kernel before timing)
    no packed copies      oneDNN on the matrices as they are (no copy packed for it)
    no oneDNN             torch's own products (MKL) throughout: no copies, no timing
    no decoding cache     fairseq's incremental forward for the steps (the prefill fills its caches)
    no prefill            fairseq's decoding from step 0 (no prefill, no decoding cache)

Speed: tokens per second, the variants interleaved in each round (every other round reversed, as
bench/engines.py); each variant's greedy tokens are checked against the shipped ones. Memory: each
variant in a process of its own, the resident memory its first search of each mode adds at its peak
to the loaded model (what the packed copies add shows there, and only on the first search of a
process: they are kept for the model's life).
"""
import argparse
import contextlib
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engines import REPO, interface_run, peak_rss_added, rounds, sources_for  # noqa: E402
from generation import ABSTRACT_NEW, MODES, NEW, build_pair  # noqa: E402

VARIANTS = ["as shipped", "no kernel timing", "no packed copies", "no oneDNN", "no decoding cache", "no prefill"]


@contextlib.contextmanager
def variant(name: str):
    """Within it, the generator runs with `name`'s pieces switched off."""
    from biogpt_fairseq.runtime import sequence_generator as generator

    switches = {
        "as shipped": {},
        "no kernel timing": {"_one_row_kernel": lambda decoder, linears: generator.PACKED},
        "no packed copies": {"_packed": lambda linear: linear.weight},
        "no oneDNN": {"_onednn_applies": lambda linear: False},
        "no decoding cache": {"DecodingCache.applies": staticmethod(lambda decoder: False)},
        "no prefill": {"PrefillingEnsembleModel.applies": lambda self: False},
    }[name]
    saved = {}
    for where, replacement in switches.items():
        owner, attribute = (getattr(generator, where.split(".")[0]), where.split(".")[1]) if "." in where \
            else (generator, where)
        saved[where] = (owner, attribute, owner.__dict__[attribute])
        setattr(owner, attribute, replacement)
    try:
        yield
    finally:
        for owner, attribute, original in saved.values():
            setattr(owner, attribute, original)


def in_variant(name: str, run):
    def switched():
        with variant(name):
            return run()
    return switched


def memory_of(name: str, checkpoint: str, data: Path, modes: list) -> dict:
    """In this process: the model loaded, each mode's first search in variant `name`, MiB added at its peak."""
    from biogpt_fairseq import BioGPT

    model = BioGPT.from_pretrained(checkpoint, batch_size=64)
    added = {}
    for mode in modes:
        _, _, beam = MODES[mode]
        run = interface_run(model, sources_for(model, data, mode), beam, ABSTRACT_NEW if mode == "abstracts16" else NEW)
        added[mode] = peak_rss_added(in_variant(name, run))
    return added


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", type=int, default=24)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    parser.add_argument("--variants", nargs="+", default=VARIANTS, choices=VARIANTS)
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--memory-of", help=argparse.SUPPRESS)  # (a variant's memory, in a process of its own)
    parser.add_argument("--checkpoint", help=argparse.SUPPRESS)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    logging.disable(logging.INFO)  # (fairseq's loader reports every batch it makes)
    data = Path(args.data)
    if args.memory_of:
        print(json.dumps(memory_of(args.memory_of, args.checkpoint, data, args.modes)))
        return
    with tempfile.TemporaryDirectory(prefix="bench-fairseq-engine-") as tmp:
        model, hf = build_pair(data, args.layers, args.width, Path(tmp))
        del hf
        checkpoint = Path(tmp) / "fairseq"  # (build_pair's conversion)
        print(f"# fairseq engine, {args.layers} x {args.width}, fp32, torch threads {torch.get_num_threads()}; "
              f"variants: {', '.join(args.variants)}", flush=True)
        for mode in args.modes:
            _, _, beam = MODES[mode]
            sources = sources_for(model, data, mode)
            new = ABSTRACT_NEW if mode == "abstracts16" else NEW
            tokens = {}
            for name in args.variants:  # (each once untimed: the shipped variant packs and times its kernels here)
                with variant(name):
                    tokens[name] = [c.tokens.tolist() for c in model.engine.generate(sources, beam=beam,
                                                                                     max_new_tokens=new)]
            figures = rounds({name: in_variant(name, interface_run(model, sources, beam, new))
                              for name in args.variants}, args.rounds)
            shipped = figures[args.variants[0]]
            for name, values in figures.items():
                ratio = statistics.median([v / s for v, s in zip(values, shipped)])
                print(f"{mode} {name}: {statistics.median(values):.1f} tok/s, x {args.variants[0]} {ratio:.2f}; "
                      f"tokens as {args.variants[0]}'s: {tokens[name] == tokens[args.variants[0]]}", flush=True)
        for name in args.variants:
            result = subprocess.run([sys.executable, __file__, "--memory-of", name, "--checkpoint", str(checkpoint),
                                     "--data", str(data), "--modes", *args.modes],
                                    capture_output=True, text=True, check=True)
            added = json.loads(result.stdout.strip().splitlines()[-1])
            print(f"memory {name}: " + ", ".join(f"{mode} +{mib:.0f} MiB" for mode, mib in added.items()), flush=True)


if __name__ == "__main__":
    main()
