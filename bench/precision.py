"""What reduced-precision decoding (`dtype="bf16"`, `"int8"` or `"int4"`, `--dtype`, `--decoding-dtype`)
changes against fp32, on a trained model and real abstracts: `make demo`'s tiny BioGPT and its fine-tuned
tasks, on any engine (against the fairseq engine's fp32, the reference).

    .venv/bin/python bench/precision.py [--dtype bf16|int8|int4] [--engine fairseq|ctranslate2|openvino]
        [--demo-out demo_out] [--abstracts 100]

1. (the fairseq engine) The pre-trained model reads each of the first ABSTRACTS BC5CDR test abstracts
   (its first 64 tokens):
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

from biogpt_fairseq.engines import DTYPES, ENGINES

REPO = Path(__file__).resolve().parents[1]
PROMPT, NEW = 64, 32


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=os.environ.get("BIOGPT_DATA", str(REPO.parent / "shared" / "data")))
    parser.add_argument("--demo-out", default=str(REPO / "demo_out"), help="what `make demo` wrote")
    parser.add_argument("--dtype", default="bf16", choices=list(DTYPES), help="against the fairseq engine's fp32")
    parser.add_argument("--engine", default="fairseq", choices=ENGINES)
    parser.add_argument("--abstracts", type=int, default=100)
    parser.add_argument("--tasks", nargs="*", help="the demo's fine-tuned tasks to score (default: all)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    from biogpt_fairseq import BioGPT
    from biogpt_fairseq.downstream.infer import infer
    from biogpt_fairseq.tools.demo import MAX_NEW_TOKENS

    demo, data = Path(args.demo_out), Path(args.data)
    checkpoint = demo / "checkpoints" / "checkpoint_best.pt"
    systems = {"reference": ("fairseq", "fp32"), "measured": (args.engine, args.dtype)}
    print(f"{args.engine} {args.dtype} against the fairseq engine's fp32", flush=True)
    models = {key: BioGPT.from_pretrained(checkpoint, data=demo / "data", engine=engine, dtype=dtype)
              for key, (engine, dtype) in systems.items()}
    documents = json.loads((data / "BC5CDR" / "raw" / "test.json").read_text())
    prompts = [models["reference"].engine.encode(d["title"] + " " + d["abstract"])[:PROMPT]
               for d in documents.values()]
    prompts = [p for p in prompts if len(p) == PROMPT][:args.abstracts]
    if args.engine == "fairseq":  # (the other engines give no logits)
        largest, same_top = 0.0, 0
        with torch.no_grad():
            for tokens in prompts:
                logits = {k: m.engine.hub.models[0](tokens.unsqueeze(0))[0][0].float() for k, m in models.items()}
                largest = max(largest, float((logits["reference"] - logits["measured"]).abs().max()))
                same_top += int((logits["reference"].argmax(-1) == logits["measured"].argmax(-1)).sum())
        print(f"{len(prompts)} abstracts x {PROMPT} positions: largest next-token logit difference {largest:.4f}; "
              f"most likely token the same at {same_top / (len(prompts) * PROMPT):.2%} of positions", flush=True)
    eos = models["reference"].engine.dictionary.eos()
    continuations = {key: [c.tokens.tolist() for c in model.engine.generate(
        [torch.cat([p, p.new([eos])]) for p in prompts], max_new_tokens=NEW)] for key, model in models.items()}
    pairs = list(zip(continuations["reference"], continuations["measured"]))
    equal = sum(a == b for x, y in pairs for a, b in zip(x, y))
    print(f"greedy continuations of up to {NEW} tokens: {equal / sum(len(x) for x, _ in pairs):.2%} of fp32's "
          f"tokens the same at the same position; {sum(x == y for x, y in pairs)} of {len(pairs)} identical "
          f"throughout", flush=True)
    for task_dir in sorted(d for d in (demo / "finetune").glob("*") if args.tasks is None or d.name in args.tasks):
        scores = {}
        for key, (engine, dtype) in systems.items():
            with tempfile.TemporaryDirectory() as out:
                scores[key] = infer(task_dir / "checkpoints", task_dir / "data-bin", out=Path(out), cpu=True,
                                    max_new_tokens=MAX_NEW_TOKENS, dtype=dtype, engine=engine)
        print(f"{task_dir.name}: " + "; ".join(f"{key} {scores['reference'][key]} -> {scores['measured'][key]}"
                                               for key in scores["reference"] if key in scores["measured"]
                                               and key != "checkpoint"), flush=True)


if __name__ == "__main__":
    sys.exit(main())
