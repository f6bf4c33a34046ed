"""What reduced-precision decoding (`dtype="bf16"` or `"int8"`, `--dtype`, `--decoding-dtype`) changes
against fp32, on a trained model and real abstracts: `make demo`'s tiny BioGPT and its fine-tuned tasks.

    .venv/bin/python bench/precision.py [--dtype bf16|int8] [--demo-out demo_out] [--abstracts 100]

1. The pre-trained model reads each of the first ABSTRACTS BC5CDR test abstracts (its first 64 tokens):
   the largest difference of a next-token logit between fp32 and the dtype over every position, and how
   often the most likely next token is the same.
2. It continues each by 32 greedy tokens in both: the share of generated tokens equal to fp32's at the
   same position, and of continuations identical throughout.
3. biogpt-infer of each fine-tuned task the demo trained, in fp32 and the dtype, with the demo's
   settings: the scores side by side. (Speed: bench/generation.py --dtype bf16 or int8.)
"""
import argparse
import json
import os
import sys
import tempfile
import warnings
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
PROMPT, NEW = 64, 32


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=os.environ.get("BIOGPT_DATA", str(REPO.parent / "shared" / "data")))
    parser.add_argument("--demo-out", default=str(REPO / "demo_out"), help="what `make demo` wrote")
    parser.add_argument("--dtype", default="bf16", choices=["bf16", "int8"], help="against fp32")
    parser.add_argument("--abstracts", type=int, default=100)
    parser.add_argument("--tasks", nargs="*", help="the demo's fine-tuned tasks to score (default: all)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    from biogpt_fairseq import BioGPT
    from biogpt_fairseq.downstream.infer import infer
    from biogpt_fairseq.tools.demo import MAX_NEW_TOKENS

    demo, data = Path(args.demo_out), Path(args.data)
    checkpoint = demo / "checkpoints" / "checkpoint_best.pt"
    models = {dtype: BioGPT.from_pretrained(checkpoint, data=demo / "data", dtype=dtype) for dtype in ("fp32", args.dtype)}
    documents = json.loads((data / "BC5CDR" / "raw" / "test.json").read_text())
    prompts = [models["fp32"].engine.hub.encode(d["title"] + " " + d["abstract"])[:PROMPT] for d in documents.values()]
    prompts = [p for p in prompts if len(p) == PROMPT][:args.abstracts]
    largest, same_top = 0.0, 0
    with torch.no_grad():
        for tokens in prompts:
            logits = {k: m.engine.hub.models[0](tokens.unsqueeze(0))[0][0].float() for k, m in models.items()}
            largest = max(largest, float((logits["fp32"] - logits[args.dtype]).abs().max()))
            same_top += int((logits["fp32"].argmax(-1) == logits[args.dtype].argmax(-1)).sum())
    print(f"{len(prompts)} abstracts x {PROMPT} positions: largest next-token logit difference {largest:.4f}; "
          f"most likely token the same at {same_top / (len(prompts) * PROMPT):.2%} of positions", flush=True)
    eos = models["fp32"].engine.hub.task.dictionary.eos()
    continuations = {}
    for dtype, model in models.items():
        results = model.engine.search([torch.cat([p, p.new([eos])]) for p in prompts], 1, max_len_a=0,
                                max_len_b=PROMPT + NEW, min_len=PROMPT + NEW)
        continuations[dtype] = [r["tokens"][PROMPT:PROMPT + NEW].tolist() for r in results]
    pairs = list(zip(continuations["fp32"], continuations[args.dtype]))
    equal = sum(a == b for x, y in pairs for a, b in zip(x, y))
    print(f"greedy continuations of {NEW} tokens: {equal / (len(pairs) * NEW):.2%} of tokens as fp32's at the same "
          f"position; {sum(x == y for x, y in pairs)} of {len(pairs)} identical throughout", flush=True)
    for task_dir in sorted(d for d in (demo / "finetune").glob("*") if args.tasks is None or d.name in args.tasks):
        scores = {}
        for dtype in ("fp32", args.dtype):
            with tempfile.TemporaryDirectory() as out:
                scores[dtype] = infer(task_dir / "checkpoints", task_dir / "data-bin", out=Path(out), cpu=True,
                                      max_new_tokens=MAX_NEW_TOKENS, dtype=dtype)
        print(f"{task_dir.name}: " + "; ".join(f"{key} {scores['fp32'][key]} -> {scores[args.dtype][key]}"
                                               for key in scores["fp32"] if key in scores[args.dtype]), flush=True)


if __name__ == "__main__":
    sys.exit(main())
