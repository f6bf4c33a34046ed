"""Generation speed: fairseq's incremental decoding (the path of fairseq-generate and the Python API)
against `transformers.BioGptForCausalLM.generate(use_cache=True)`, with identical weights.

    .venv/bin/python bench/generation.py [--layers 4 --width 256] [--pairs 5]
    .venv/bin/python bench/generation.py --layers 24 --width 1024 --pairs 3     (BioGPT's shape)

A BioGPT-shaped model with the released 42,384-type vocabulary and random weights is written as a
Hugging Face directory and converted to fairseq with `biogpt_fairseq.tools.convert`, so both systems hold
the same tensors. Prompts are 32 tokens of real abstracts; 64 new tokens are forced (eos banned).
Figures are new tokens per second, measured interleaved; greedy outputs are checked token-identical.
Each mode is also timed against fairseq's stock `SequenceGenerator` (one token per step), the figure
before biogpt_fairseq/runtime/sequence_generator.py. Beside batch 1 it prints the physical limit: the
weights' bytes, all read for each token, over this machine's measured streaming-read bandwidth.
"""
import argparse
import json
import os
import sys
import tempfile
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from interleave import interleaved, report  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PROMPT, NEW = 32, 64


def build_pair(data: Path, layers: int, width: int, out: Path):
    """The same random BioGPT in transformers and in fairseq (through the converter)."""
    from transformers import BioGptConfig, BioGptForCausalLM

    from biogpt_fairseq import BioGPT
    from biogpt_fairseq.tools.convert import from_hf, hf_vocab, merges_from_bpecodes, read_dict_symbols

    symbols = read_dict_symbols(data / "biogpt" / "dict.txt")
    torch.manual_seed(0)
    config = BioGptConfig(vocab_size=len(symbols), hidden_size=width, num_hidden_layers=layers,
                          num_attention_heads=max(1, width // 64), intermediate_size=4 * width, layer_norm_eps=1e-5)
    hf = BioGptForCausalLM(config).eval()
    hf.save_pretrained(out / "hf")
    (out / "hf" / "vocab.json").write_text(json.dumps(hf_vocab(symbols)))
    (out / "hf" / "merges.txt").write_text("\n".join(merges_from_bpecodes(data / "biogpt" / "bpecodes")) + "\n")
    ours = BioGPT.from_pretrained(from_hf(out / "hf", out / "fairseq"), batch_size=64)
    return ours, hf


def prompts(ours, data: Path, n: int) -> torch.Tensor:
    """`n` prompts of PROMPT tokens from real abstracts (fairseq's encoding: text tokens, no eos)."""
    documents = json.loads((data / "BC5CDR" / "raw" / "test.json").read_text())
    rows = []
    for document in documents.values():
        tokens = ours.hub.encode(document["title"] + " " + document["abstract"])[:PROMPT]
        if len(tokens) == PROMPT:
            rows.append(tokens)
        if len(rows) == n:
            return torch.stack(rows)
    raise RuntimeError("not enough abstracts")


def streaming_bandwidth(megabytes: int = 512, runs: int = 5) -> float:
    """This machine's memory bandwidth for reading, bytes/s: the best of `runs` sums of a tensor far
    larger than the caches."""
    import time

    big = torch.ones(megabytes << 18)
    best = 0.0
    for _ in range(runs):
        start = time.perf_counter()
        big.sum()
        best = max(best, big.numel() * 4 / (time.perf_counter() - start))
    return best


def bytes_per_token(model) -> int:
    """What a batch-1 step must read: every parameter once (the tied embedding as the projection)."""
    return sum(p.numel() * p.element_size() for p in model.parameters())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=os.environ.get("BIOGPT_DATA", str(REPO.parent / "shared" / "data")))
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--pairs", type=int, default=5)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    print(f"generation, {args.layers} layers x {args.width}, vocabulary 42,384, prompt {PROMPT}, {NEW} new tokens, "
          f"fp32 CPU, {torch.get_num_threads()} threads", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        ours, hf = build_pair(Path(args.data), args.layers, args.width, Path(tmp))
        from fairseq.sequence_generator import SequenceGenerator

        from biogpt_fairseq.runtime.sequence_generator import BioGPTSequenceGenerator
        all_prompts = prompts(ours, Path(args.data), 16)
        eos = ours.hub.task.dictionary.eos()

        def fairseq_run(batch, beam, generator_class=BioGPTSequenceGenerator):
            def run():
                with torch.no_grad():
                    # (the API's search: encoded sentences, which end with eos; the prompt is forced)
                    results = ours._search([torch.cat([p, p.new([eos])]) for p in all_prompts[:batch]], beam,
                                           max_len_a=0, max_len_b=PROMPT + NEW, min_len=PROMPT + NEW,
                                           generator_class=generator_class)
                run.outputs = [r["tokens"][PROMPT:PROMPT + NEW].tolist() for r in results]
                return batch * NEW
            return run

        def hf_run(batch, beam):
            inputs = torch.cat([torch.full((batch, 1), eos), all_prompts[:batch]], dim=1)

            def run():
                with torch.no_grad():
                    out = hf.generate(inputs, do_sample=False, num_beams=beam, max_new_tokens=NEW,
                                      min_new_tokens=NEW, use_cache=True, pad_token_id=1)
                run.outputs = out[:, PROMPT + 1:].tolist()
                return batch * NEW
            return run

        weights, bandwidth = bytes_per_token(ours.hub.models[0]), streaming_bandwidth()
        limit = bandwidth / weights
        print(f"batch-1 limit: {weights / 1e9:.2f} GB of weights a token / {bandwidth / 1e9:.1f} GB/s streaming "
              f"read = {limit:.1f} tok/s", flush=True)
        for name, batch, beam in [("greedy, batch 1", 1, 1), ("greedy, batch 16", 16, 1), ("beam 5, batch 1", 1, 5)]:
            ours_run, peer_run = fairseq_run(batch, beam), hf_run(batch, beam)
            stock_run = fairseq_run(batch, beam, SequenceGenerator)
            result = interleaved(ours_run, peer_run, pairs=args.pairs)
            same = ours_run.outputs == peer_run.outputs
            report(f"{name} (new tokens/s){'' if beam > 1 else ', token-identical: ' + str(same)}", "tok/s",
                   "HF", result)
            if batch == 1 and beam == 1:
                print(f"{name}: the limit / ours = {limit / result['ours']:.2f}x, the limit / HF = "
                      f"{limit / result['peer']:.2f}x", flush=True)
            result = interleaved(ours_run, stock_run, pairs=args.pairs)
            report(f"{name}, against fairseq's stock decoding, token-identical: "
                   f"{ours_run.outputs == stock_run.outputs}", "tok/s", "stock", result)


if __name__ == "__main__":
    main()
