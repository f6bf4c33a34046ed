"""Generation speed: fairseq's incremental decoding (the path of fairseq-generate and the Python API)
against `transformers.BioGptForCausalLM.generate(use_cache=True)`, with identical weights.

    .venv/bin/python bench/generation.py [--layers 4 --width 256] [--pairs 5]
    .venv/bin/python bench/generation.py --layers 24 --width 1024 --pairs 3     (BioGPT's shape)
    .venv/bin/python bench/generation.py --large --pairs 1 --modes greedy1      (BioGPT-Large's)
    [--modes greedy1 greedy16 beam5 abstracts16]

A BioGPT-shaped model with the released 42,384-type vocabulary (BioGPT-Large's 57,717) and random
weights is written as a Hugging Face directory and converted to fairseq with
`biogpt_fairseq.models.hf_conversion`, so both systems hold the same tensors. Prompts are 32 tokens of real
abstracts; 64 new tokens are forced (eos banned).
Figures are new tokens per second, measured interleaved; greedy outputs are checked token-identical.
Each mode is also timed against fairseq's stock `SequenceGenerator` (one token per step), the figure
before biogpt_fairseq/runtime/sequence_generator.py. Beside batch 1 it prints the physical limit: the
weights' bytes, all read for each token, over this machine's measured streaming-read bandwidth
(the faster of a sum and a one-row product over the same matrix).
Each system's memory is the resident memory its runs add at their peak to the process that holds
both models (caches, activations, packed matrices), sampled every 5 ms.

The mode `abstracts16` is the original's inference setting on BC5CDR-length sources: greedy over a
batch of 16 whole test abstracts (title and abstract) of about the median length, consecutive in
length order as the original's length-sorted batches group them (its 12,000-token budget would
put about 45 of them in one batch), each continued by 32 new tokens. fairseq forces each source and
runs to the batch's length limit (the longest source + 32), so a shorter source gets a few more new
tokens; HF pads on the left and gives each 32. The figure is each system's own new tokens per second.

    --dtype bf16     ours, stock fairseq and HF with bf16 weights (the `dtype="bf16"` option)
    --dtype int8     ours and stock fairseq with int8 weights of the linear maps, fp32 activations (the
                     `dtype="int8"` option); HF in fp32 (it has no int8 weights of its own on CPU)
    --openvino       also against OpenVINO: the same HF directory exported by optimum-intel
                     (installed with the package), fp32, or with --dtype bf16 or int8
                     its int8 weight compression (OpenVINO runs bf16 only on CPUs with bf16 instructions)
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
MODES = {"greedy1": ("greedy, batch 1", 1, 1), "greedy16": ("greedy, batch 16", 16, 1),
         "beam5": ("beam 5, batch 1", 1, 5), "abstracts16": ("greedy, 16 whole abstracts", 16, 1)}
ABSTRACTS, ABSTRACT_NEW = 16, 32


def build_pair(data: Path, layers: int, width: int, out: Path, dtype: str = "fp32", vocabulary: str = "biogpt",
               positions: int = 1024):
    """The same random BioGPT in transformers and in fairseq (through the converter). Each is loaded
    from its file, one conversion at a time, so that BioGPT-Large's three copies never meet."""
    make_model(data, layers, width, out, vocabulary, positions)
    return load_pair(out, dtype)


def make_model(data: Path, layers: int, width: int, out: Path, vocabulary: str = "biogpt", positions: int = 1024):
    """Write a random BioGPT of this shape as a Hugging Face directory `out`/hf and its fairseq conversion
    `out`/fairseq, unless `out` holds them already."""
    from transformers import BioGptConfig, BioGptForCausalLM

    from biogpt_fairseq.models.hf_conversion import from_hf, hf_vocab, merges_from_bpecodes, read_dict_symbols

    symbols = read_dict_symbols(data / vocabulary / "dict.txt")
    if (out / "fairseq" / "checkpoint.pt").is_file():  # (written last)
        made = BioGptConfig.from_pretrained(out / "hf")
        if (made.num_hidden_layers, made.hidden_size, made.vocab_size) != (layers, width, len(symbols)):
            sys.exit(f"{out}: holds a {made.num_hidden_layers} x {made.hidden_size} model of {made.vocab_size} "
                     f"types, not the {layers} x {width} of {len(symbols)} asked for")
        return
    torch.manual_seed(0)
    config = BioGptConfig(vocab_size=len(symbols), hidden_size=width, num_hidden_layers=layers,
                          num_attention_heads=max(1, width // 64), intermediate_size=4 * width, layer_norm_eps=1e-5,
                          max_position_embeddings=positions)
    BioGptForCausalLM(config).save_pretrained(out / "hf")
    (out / "hf" / "vocab.json").write_text(json.dumps(hf_vocab(symbols)))
    (out / "hf" / "merges.txt").write_text("\n".join(merges_from_bpecodes(data / vocabulary / "bpecodes")) + "\n")
    from_hf(out / "hf", out / "fairseq")


def load_pair(out: Path, dtype: str = "fp32", with_fairseq: bool = True):
    """`make_model`'s model in fairseq (None without it) and in transformers, in `dtype`."""
    from transformers import BioGptForCausalLM

    from biogpt_fairseq import BioGPT

    ours = BioGPT.from_pretrained(out / "fairseq", batch_size=64, dtype=dtype) if with_fairseq else None
    hf = BioGptForCausalLM.from_pretrained(out / "hf", torch_dtype=precision.torch_dtype(dtype)).eval()
    with torch.no_grad():  # its weights are mapped from the file: read in now, not during its first run
        sum(float(p.sum()) for p in hf.parameters())
    return ours, hf


def openvino_model(hf_dir: Path, dtype: str):
    """The HF directory exported to OpenVINO by optimum-intel: fp32, or for bf16 its int8 weights."""
    import logging

    from optimum.intel import OVModelForCausalLM

    # (fairseq's hydra leaves the root logger at DEBUG: the exporter would print the whole traced graph, and
    # an error of a first tracing attempt that it recovers from)
    logging.getLogger("openvino").setLevel(logging.CRITICAL)

    return OVModelForCausalLM.from_pretrained(hf_dir, export=True, load_in_8bit=dtype != "fp32",
                                              ov_config={"INFERENCE_PRECISION_HINT": "f32", "NUM_STREAMS": "1"})


def prompts(ours, data: Path, n: int) -> torch.Tensor:
    """`n` prompts of PROMPT tokens from real abstracts (fairseq's encoding: text tokens, no eos)."""
    documents = json.loads((data / "BC5CDR" / "raw" / "test.json").read_text())
    rows = []
    for document in documents.values():
        tokens = ours.engine.hub.encode(document["title"] + " " + document["abstract"])[:PROMPT]
        if len(tokens) == PROMPT:
            rows.append(tokens)
        if len(rows) == n:
            return torch.stack(rows)
    raise RuntimeError("not enough abstracts")


def abstracts(ours, data: Path, n: int) -> list:
    """`n` BC5CDR test documents of about the median length, title and abstract, as fairseq encodes them
    (text tokens, no eos): consecutive in length order, as the original's length-sorted batches group them."""
    documents = json.loads((data / "BC5CDR" / "raw" / "test.json").read_text()).values()
    sources = sorted((ours.engine.encode(d["title"].strip() + " " + d["abstract"].strip())[:-1] for d in documents),
                     key=len)
    middle = (len(sources) - n) // 2
    return sources[middle:middle + n]


def streaming_bandwidth(megabytes: int = 512, runs: int = 5) -> float:
    """This machine's memory bandwidth for reading, bytes/s: the fastest of `runs` rounds of two reads of
    a matrix far larger than the caches, its sum and its product with one row (torch's `linear`, MKL).
    Either can be the faster: on the project's Zen 4 machine the sum (48.5 GB/s, MKL's product 15.7), on
    its Intel Xeon the product (31.4 to 32.0 GB/s against the sum's 27.7 in one process)."""
    import time

    big = torch.ones(megabytes << 18).view(-1, 1024)
    row = torch.ones(1, 1024)
    best = 0.0
    for _ in range(runs):
        for read in (big.sum, lambda: torch.nn.functional.linear(row, big)):
            start = time.perf_counter()
            read()
            best = max(best, big.numel() * 4 / (time.perf_counter() - start))
    return best


class PeakMemory:
    """The most resident memory this process holds while a run goes, above what it held before
    (the run's caches and activations; the weights are loaded before), sampled every 5 ms. glibc
    first returns what earlier runs freed, which it would otherwise keep and count as before."""

    def __init__(self, run):
        self.run, self.peak = run, 0

    @staticmethod
    def resident() -> int:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def __call__(self):
        import ctypes
        import threading

        ctypes.CDLL(None).malloc_trim(0)
        before, highest, done = self.resident(), [0], threading.Event()

        def sample():
            while not done.wait(0.005):
                highest[0] = max(highest[0], self.resident())
        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            work = self.run()
        finally:
            done.set()
            sampler.join()
        self.peak = max(self.peak, highest[0] - before)
        self.outputs = self.run.outputs
        return work


def bytes_per_token(model) -> int:
    """What a batch-1 step must read: every parameter and buffer once, the output projection's weights
    (the tied embedding, or with int8 its own int8 copy) among them, less an embedding table that the
    projection does not share (a step reads one row of it)."""
    decoder = model.decoder
    total = sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])
    if decoder.output_projection.weight is not decoder.embed_tokens.weight:
        total -= decoder.embed_tokens.weight.numel() * decoder.embed_tokens.weight.element_size()
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=os.environ.get("BIOGPT_DATA", str(REPO.parent / "shared" / "data")))
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--dtype", default="fp32", choices=list(precision.DTYPES))
    parser.add_argument("--openvino", action="store_true", help="also against OpenVINO (optimum-intel)")
    parser.add_argument("--modes", nargs="+", choices=list(MODES), default=list(MODES))
    parser.add_argument("--large", action="store_true",
                        help="BioGPT-Large: 48 layers x 1600, its 57,717-type vocabulary, 2,048 positions")
    args = parser.parse_args()
    vocabulary, positions = "biogpt", 1024
    if args.large:
        args.layers, args.width, vocabulary, positions = 48, 1600, "biogpt-large", 2048
    warnings.filterwarnings("ignore")
    print(f"generation, {args.layers} layers x {args.width}, vocabulary {vocabulary}, prompt {PROMPT}, "
          f"{NEW} new tokens, {args.dtype} CPU, {torch.get_num_threads()} threads", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        ours, hf = build_pair(Path(args.data), args.layers, args.width, Path(tmp), args.dtype, vocabulary, positions)
        peers = {"HF": hf}
        if args.openvino:
            peers["OpenVINO" + (" int8 weights" if args.dtype != "fp32" else "")] = openvino_model(
                Path(tmp) / "hf", args.dtype)
        from fairseq.sequence_generator import SequenceGenerator

        from biogpt_fairseq.runtime.sequence_generator import BioGPTSequenceGenerator
        all_prompts = prompts(ours, Path(args.data), 16)
        eos = ours.engine.hub.task.dictionary.eos()

        whole = abstracts(ours, Path(args.data), ABSTRACTS)
        longest = max(len(source) for source in whole)

        def fairseq_run(mode, batch, beam, generator_class=BioGPTSequenceGenerator):
            if mode == "abstracts16":  # each source makes new tokens up to the batch's limit
                sources, limit = whole, longest + ABSTRACT_NEW
            else:
                sources, limit = all_prompts[:batch], PROMPT + NEW

            def run():
                with torch.no_grad():
                    # (the API's search: encoded sentences, which end with eos; the prompt is forced)
                    results = ours.engine.search([torch.cat([p, p.new([eos])]) for p in sources], beam,
                                           max_len_a=0, max_len_b=limit, min_len=limit,
                                           generator_class=generator_class)
                run.outputs = [r["tokens"][len(p):-1].tolist() for r, p in zip(results, sources)]
                return sum(len(o) for o in run.outputs)
            return run

        def peer_run(peer, mode, batch, beam):
            if mode == "abstracts16":  # left-padded, as HF batches a causal model's prompts
                inputs = torch.full((len(whole), longest + 1), 1)
                for row, source in enumerate(whole):
                    inputs[row, -len(source) - 1:] = torch.cat([source.new([eos]), source])
                mask, new = inputs.ne(1).long(), ABSTRACT_NEW
            else:
                inputs = torch.cat([torch.full((batch, 1), eos), all_prompts[:batch]], dim=1)
                mask, new = torch.ones_like(inputs), NEW

            def run():
                with torch.no_grad():
                    out = peer.generate(inputs, attention_mask=mask, do_sample=False, num_beams=beam,
                                        max_new_tokens=new, min_new_tokens=new, use_cache=True, pad_token_id=1)
                run.outputs = out[:, inputs.size(1):].tolist()
                return out[:, inputs.size(1):].numel()
            return run

        def same(ours_outputs, peer_outputs):  # (of each source's new tokens, as many as both made)
            return all(a[:len(b)] == b[:len(a)] for a, b in zip(ours_outputs, peer_outputs))

        weights, bandwidth = bytes_per_token(ours.engine.hub.models[0]), streaming_bandwidth()
        limit = bandwidth / weights
        print(f"weights: {weights / 1e9:.2f} GB; this process, both models loaded: "
              f"{PeakMemory.resident() / 2 ** 30:.2f} GiB resident", flush=True)
        print(f"batch-1 limit: {weights / 1e9:.2f} GB of weights a token / {bandwidth / 1e9:.1f} GB/s streaming "
              f"read = {limit:.1f} tok/s", flush=True)
        for mode in args.modes:
            name, batch, beam = MODES[mode]
            ours_run = PeakMemory(fairseq_run(mode, batch, beam))
            stock_run = PeakMemory(fairseq_run(mode, batch, beam, SequenceGenerator))
            memory = {"ours": ours_run, "stock": stock_run}
            for peer_name, peer in peers.items():
                other_run = memory[peer_name] = PeakMemory(peer_run(peer, mode, batch, beam))
                result = interleaved(ours_run, other_run, pairs=args.pairs)
                identical = same(ours_run.outputs, other_run.outputs)
                report(f"{name} (new tokens/s){'' if beam > 1 else ', token-identical: ' + str(identical)}",
                       "tok/s", peer_name, result)
                if batch == 1 and beam == 1:
                    print(f"{name}: the limit / ours = {limit / result['ours']:.2f}x, the limit / {peer_name} = "
                          f"{limit / result['peer']:.2f}x", flush=True)
            result = interleaved(ours_run, stock_run, pairs=args.pairs)
            report(f"{name}, against fairseq's stock decoding, token-identical: "
                   f"{ours_run.outputs == stock_run.outputs}", "tok/s", "stock", result)
            print(f"{name}: resident memory above the loaded weights at its peak: "
                  + ", ".join(f"{system} {run.peak / 2 ** 20:.0f} MB" for system, run in memory.items()), flush=True)
            if mode == "abstracts16":
                print(f"{name}: sources of {min(len(s) for s in whole)} to {longest} tokens, "
                      f"{sum(len(s) for s in whole)} in all", flush=True)


if __name__ == "__main__":
    main()
