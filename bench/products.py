"""The decoding step's matrix products at BioGPT's size, by backend and weight layout.

    .venv/bin/python bench/products.py [--width 1024 --layers 24] [--rows 1 5 16]

A decoding step multiplies a few rows (1 a sentence, or a beam's) by every layer's six matrices.
This times one step's worth of them, each matrix distinct so that none is read from cache, on
torch's `linear` (MKL), on oneDNN with the matrices as they are, and on oneDNN with the matrices
packed in its layout for R rows (what `onednn.pack(weight, R)` makes, once per search in
biogpt_fairseq/runtime/sequence_generator.py). Each figure is the fastest of 5 and the rate at which
it reads the weights, beside a plain streaming read (a sum) of the same bytes. The best layout has
differed between machines of this project: measure here before changing the generator's thresholds.
"""
import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from biogpt_fairseq.runtime import onednn  # noqa: E402


def fastest(run, repeats: int = 5) -> float:
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--layers", type=int, default=24)
    parser.add_argument("--rows", type=int, nargs="+", default=[1, 5, 16], help="rows a step (batch x beam)")
    parser.add_argument("--packed-for", type=int, nargs="+", default=[2, 16], help="the R of onednn.pack")
    args = parser.parse_args()
    torch.manual_seed(0)
    d = args.width
    shapes = [(d, d)] * 4 + [(4 * d, d), (d, 4 * d)]  # q, k, v, out; fc1, fc2
    weights = [torch.randn(*shape) * 0.02 for _ in range(args.layers) for shape in shapes]
    biases = [torch.randn(w.size(0)) for w in weights]
    gigabytes = sum(w.numel() * w.element_size() for w in weights) / 1e9
    print(f"{args.layers} layers x {d}: {gigabytes:.2f} GB of matrices, {torch.get_num_threads()} threads")
    seconds = fastest(lambda: [w.sum() for w in weights])
    print(f"streaming read (sum): {seconds * 1e3:.1f} ms, {gigabytes / seconds:.1f} GB/s")
    layouts = {"MKL (torch linear)": None, "oneDNN, as they are": weights}
    for r in args.packed_for:
        start = time.perf_counter()
        layouts[f"oneDNN, packed for {r}"] = [onednn.pack(w, r) for w in weights]
        print(f"packing for {r} rows: {time.perf_counter() - start:.2f} s")
    for rows in args.rows:
        inputs = {n: torch.randn(rows, n) for n in (d, 4 * d)}
        for name, matrices in layouts.items():
            if matrices is None:
                def run():
                    return [torch.nn.functional.linear(inputs[w.size(1)], w, b) for w, b in zip(weights, biases)]
            else:
                def run(matrices=matrices):
                    return [onednn.linear(inputs[w.size(1)], m, b) for w, m, b in zip(weights, matrices, biases)]
            seconds = fastest(run)
            print(f"{rows:3d} rows, {name:24s} {seconds * 1e3:7.1f} ms  {gigabytes / seconds:5.1f} GB/s", flush=True)


if __name__ == "__main__":
    main()
