"""Generation speed: fairseq's incremental decoding (the path of fairseq-generate and the Python API)
against `transformers.BioGptForCausalLM.generate(use_cache=True)`, with identical weights.

    .venv/bin/python bench/generation.py [--layers 4 --width 256] [--pairs 5]
    .venv/bin/python bench/generation.py --layers 24 --width 1024 --pairs 3     (BioGPT's shape)
    [--modes greedy1 greedy16 beam5]

A BioGPT-shaped model with the released 42,384-type vocabulary and random weights is written as a
Hugging Face directory and converted to fairseq with `biogpt_fairseq.tools.convert`, so both systems hold
the same tensors. Prompts are 32 tokens of real abstracts; 64 new tokens are forced (eos banned).
Figures are new tokens per second, measured interleaved; greedy outputs are checked token-identical.
Each mode is also timed against fairseq's stock `SequenceGenerator` (one token per step), the figure
before biogpt_fairseq/runtime/sequence_generator.py. Beside batch 1 it prints the physical limit: the
weights' bytes, all read for each token, over this machine's measured streaming-read bandwidth.

    --dtype bf16     ours, stock fairseq and HF with bf16 weights (the `dtype="bf16"` option)
    --openvino       also against OpenVINO: the same HF directory exported by optimum-intel
                     (pip install -r bench/requirements-openvino.txt), fp32, or with --dtype bf16 its
                     int8 weight compression (OpenVINO runs bf16 only on CPUs with bf16 instructions)
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

from biogpt_fairseq.runtime import precision  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PROMPT, NEW = 32, 64
MODES = {"greedy1": ("greedy, batch 1", 1, 1), "greedy16": ("greedy, batch 16", 16, 1), "beam5": ("beam 5, batch 1", 1, 5)}


def build_pair(data: Path, layers: int, width: int, out: Path, dtype: str = "fp32"):
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
    ours = BioGPT.from_pretrained(from_hf(out / "hf", out / "fairseq"), batch_size=64, dtype=dtype)
    return ours, hf.to(precision.torch_dtype(dtype))


def openvino_model(hf_dir: Path, dtype: str):
    """The HF directory exported to OpenVINO by optimum-intel: fp32, or for bf16 its int8 weights."""
    from optimum.intel import OVModelForCausalLM

    return OVModelForCausalLM.from_pretrained(hf_dir, export=True, load_in_8bit=dtype != "fp32",
                                              ov_config={"INFERENCE_PRECISION_HINT": "f32", "NUM_STREAMS": "1"})


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
    parser.add_argument("--dtype", default="fp32", choices=list(precision.DTYPES))
    parser.add_argument("--openvino", action="store_true", help="also against OpenVINO (optimum-intel)")
    parser.add_argument("--modes", nargs="+", choices=list(MODES), default=list(MODES))
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    print(f"generation, {args.layers} layers x {args.width}, vocabulary 42,384, prompt {PROMPT}, {NEW} new tokens, "
          f"{args.dtype} CPU, {torch.get_num_threads()} threads", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        ours, hf = build_pair(Path(args.data), args.layers, args.width, Path(tmp), args.dtype)
        peers = {"HF": hf}
        if args.openvino:
            peers["OpenVINO" + (" int8 weights" if args.dtype != "fp32" else "")] = openvino_model(
                Path(tmp) / "hf", args.dtype)
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

        def peer_run(peer, batch, beam):
            inputs = torch.cat([torch.full((batch, 1), eos), all_prompts[:batch]], dim=1)

            def run():
                with torch.no_grad():
                    out = peer.generate(inputs, do_sample=False, num_beams=beam, max_new_tokens=NEW,
                                      min_new_tokens=NEW, use_cache=True, pad_token_id=1)
                run.outputs = out[:, PROMPT + 1:].tolist()
                return batch * NEW
            return run

        weights, bandwidth = bytes_per_token(ours.hub.models[0]), streaming_bandwidth()
        limit = bandwidth / weights
        print(f"batch-1 limit: {weights / 1e9:.2f} GB of weights a token / {bandwidth / 1e9:.1f} GB/s streaming "
              f"read = {limit:.1f} tok/s", flush=True)
        for name, batch, beam in [MODES[mode] for mode in args.modes]:
            ours_run, stock_run = fairseq_run(batch, beam), fairseq_run(batch, beam, SequenceGenerator)
            for peer_name, peer in peers.items():
                other_run = peer_run(peer, batch, beam)
                result = interleaved(ours_run, other_run, pairs=args.pairs)
                same = ours_run.outputs == other_run.outputs
                report(f"{name} (new tokens/s){'' if beam > 1 else ', token-identical: ' + str(same)}", "tok/s",
                       peer_name, result)
                if batch == 1 and beam == 1:
                    print(f"{name}: the limit / ours = {limit / result['ours']:.2f}x, the limit / {peer_name} = "
                          f"{limit / result['peer']:.2f}x", flush=True)
            result = interleaved(ours_run, stock_run, pairs=args.pairs)
            report(f"{name}, against fairseq's stock decoding, token-identical: "
                   f"{ours_run.outputs == stock_run.outputs}", "tok/s", "stock", result)


if __name__ == "__main__":
    main()
