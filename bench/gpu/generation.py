"""Generation on a GPU at BioGPT's size (24 x 1024, the released 42,384-type vocabulary, random weights):
ours (the fairseq engine: BioGPTSequenceGenerator) against Hugging Face's `BioGptForCausalLM.generate`,
in fp16 and bf16, on four workloads.

    python bench/gpu/generation.py --data DATA [--device cuda] [--json OUT.json]
    python bench/gpu/generation.py --data DATA --device cpu --small      (a rehearsal: 2 x 64)

DATA is laid out as the data mirror (biogpt/{bpecodes,dict.txt}, BC5CDR/raw/test.json). As
bench/generation.py, the random model is written as a Hugging Face directory and converted with
`biogpt_fairseq.models.hf_conversion.from_hf` (so the installed transformers' save and load are exercised
too), and both systems hold the same tensors. Workloads: prompts of 32 tokens of real abstracts
continued by 64 forced new tokens (eos banned), greedy batch 1, greedy batch 64, beam 5 batch 1; and
64 whole BC5CDR test abstracts of about the median length, greedy, 32 new tokens (the original's
inference). Figures: new tokens per second (the median of --runs timed runs after one warm-up), the
device memory a run adds at its peak over the loaded weights, and how many sequences ours and HF
generate token for token alike (reduced precision may part them where two tokens nearly tie). Greedy
batch 1 and 64 are also run with fairseq's stock SequenceGenerator, which ours must equal token for
token on the device as on the CPU. Prints one line `GENERATION {json}` per figure and a table last.
"""
import argparse
import json
import statistics
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

PROMPT, NEW, ABSTRACT_NEW = 32, 64, 32
MODES = {"greedy1": ("greedy, batch 1", 1, 1), "greedy64": ("greedy, batch 64", 64, 1),
         "beam5": ("beam 5, batch 1", 1, 5), "abstracts64": ("greedy, 64 whole abstracts", 64, 1)}
TORCH_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def hf_from_pretrained(path, dtype):
    """transformers 5 names the argument `dtype` (4.56+ accepts it too); older ones `torch_dtype`."""
    from transformers import BioGptForCausalLM

    try:
        return BioGptForCausalLM.from_pretrained(path, dtype=dtype)
    except TypeError:
        return BioGptForCausalLM.from_pretrained(path, torch_dtype=dtype)


def write_pair(data: Path, layers: int, width: int, out: Path, notes: list) -> Path:
    """A random BioGPT as a Hugging Face directory (out/hf) and its fairseq conversion (returned)."""
    import transformers
    from transformers import BioGptConfig, BioGptForCausalLM

    from biogpt_fairseq.models.hf_conversion import from_hf, hf_vocab, merges_from_bpecodes, read_dict_symbols

    symbols = read_dict_symbols(data / "biogpt" / "dict.txt")
    torch.manual_seed(0)
    config = BioGptConfig(vocab_size=len(symbols), hidden_size=width, num_hidden_layers=layers,
                          num_attention_heads=max(1, width // 64), intermediate_size=4 * width, layer_norm_eps=1e-5,
                          max_position_embeddings=1024)
    BioGptForCausalLM(config).save_pretrained(out / "hf")
    (out / "hf" / "vocab.json").write_text(json.dumps(hf_vocab(symbols)))
    (out / "hf" / "merges.txt").write_text("\n".join(merges_from_bpecodes(data / "biogpt" / "bpecodes")) + "\n")
    try:
        return from_hf(out / "hf", out / "fairseq")
    except Exception as err:  # noqa: BLE001  (transformers 5 may refuse its `torch_dtype=`: noted, then worked around)
        notes.append(f"biogpt_fairseq.models.hf_conversion.from_hf failed on transformers {transformers.__version__}: "
                     f"{err}; converted with from_pretrained's torch_dtype= passed as dtype=")
        original = BioGptForCausalLM.from_pretrained.__func__

        def renamed(cls, *args, torch_dtype=None, **kwargs):
            return original(cls, *args, **({"dtype": torch_dtype} if torch_dtype is not None else {}), **kwargs)
        BioGptForCausalLM.from_pretrained = classmethod(renamed)
        try:
            return from_hf(out / "hf", out / "fairseq")
        finally:
            BioGptForCausalLM.from_pretrained = classmethod(original)


def load_ours(fairseq_dir: Path, dtype: str, device: str, notes: list):
    """The API's model in `dtype` on `device`. Where the API refuses the dtype (a bug on CUDA), the
    fp32 model cast by hand, so the timing still runs, and the refusal noted."""
    from biogpt_fairseq import BioGPT

    try:
        return BioGPT.from_pretrained(fairseq_dir, batch_size=64, dtype=dtype, device=device)
    except Exception as err:  # noqa: BLE001  (reported, then worked around)
        notes.append(f"BioGPT.from_pretrained(dtype={dtype!r}, device={device!r}) failed: "
                     f"{type(err).__name__}: {err}; ran the fp32 model cast to {dtype} by hand")
        model = BioGPT.from_pretrained(fairseq_dir, batch_size=64, dtype="fp32", device=device)
        model.engine.hub.models[0].to(TORCH_DTYPES[dtype])
        return model


def encoded_abstracts(ours, data: Path):
    """BC5CDR test documents (title and abstract) as fairseq encodes them: text tokens, no eos."""
    documents = json.loads((data / "BC5CDR" / "raw" / "test.json").read_text()).values()
    return [ours.engine.hub.encode(d["title"].strip() + " " + d["abstract"].strip())[:-1] for d in documents]


def synchronize(device):
    if device == "cuda":
        torch.cuda.synchronize()


class Measured:
    """A run timed `runs` times after a warm-up: median new tokens/s, peak memory over what was
    allocated before it (CUDA), and the outputs of the last run."""

    def __init__(self, run, device, runs):
        self.run, self.device = run, device
        run()  # warm-up: kernels chosen, caches allocated, lazy loading done
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
            before = torch.cuda.memory_allocated()
        rates = []
        for _ in range(runs):
            synchronize(device)
            start = time.perf_counter()
            tokens = run()
            synchronize(device)
            rates.append(tokens / (time.perf_counter() - start))
        self.tokens_per_s = statistics.median(rates)
        self.spread = (min(rates), max(rates))
        self.peak_mib = (torch.cuda.max_memory_allocated() - before) / 2**20 if device == "cuda" else None
        self.outputs = run.outputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtypes", nargs="+", default=["fp16", "bf16"], choices=list(TORCH_DTYPES))
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--small", action="store_true", help="2 layers x 64, 8-row batches, 1 run (a rehearsal)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    layers, width, rows = (2, 64, 8) if args.small else (24, 1024, 64)
    if args.small:
        args.runs = 1
    from fairseq.sequence_generator import SequenceGenerator

    import transformers

    from biogpt_fairseq.runtime.sequence_generator import BioGPTSequenceGenerator

    device = args.device
    header = {"layers": layers, "width": width, "device": device, "torch": torch.__version__,
              "transformers": transformers.__version__,
              "gpu": torch.cuda.get_device_name() if device == "cuda" else None}
    print("GENERATION_SETUP " + json.dumps(header), flush=True)
    results, notes = [], []
    with tempfile.TemporaryDirectory() as tmp:
        fairseq_dir = write_pair(args.data, layers, width, Path(tmp), notes)
        for dtype in args.dtypes:
            ours = load_ours(fairseq_dir, dtype, device, notes)
            hf = hf_from_pretrained(Path(tmp) / "hf", TORCH_DTYPES[dtype]).to(device).eval()
            model = ours.engine.hub.models[0]
            weights = sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])
            eos = ours.engine.hub.task.dictionary.eos()
            documents = encoded_abstracts(ours, args.data)
            prompts = torch.stack([d[:PROMPT] for d in documents if len(d) >= PROMPT][:rows])
            by_length = sorted(documents, key=len)
            middle = (len(by_length) - rows) // 2
            whole = by_length[middle:middle + rows]
            longest = max(len(s) for s in whole)

            def ours_run(mode, batch, beam, generator_class=BioGPTSequenceGenerator):
                sources, limit = (whole, longest + ABSTRACT_NEW) if mode == "abstracts64" else (
                    list(prompts[:batch]), PROMPT + NEW)

                def run():
                    with torch.no_grad():  # the API's search: each source ends with eos, and is forced
                        results = ours.engine.search([torch.cat([s, s.new([eos])]) for s in sources], beam,
                                                     max_len_a=0, max_len_b=limit, min_len=limit,
                                                     generator_class=generator_class)
                    run.outputs = [r["tokens"][len(s):-1].tolist() for r, s in zip(results, sources)]
                    return sum(len(o) for o in run.outputs)
                return run

            def hf_run(mode, batch, beam):
                if mode == "abstracts64":  # left-padded, as HF batches a causal model's prompts
                    inputs = torch.full((len(whole), longest + 1), 1)
                    for row, source in enumerate(whole):
                        inputs[row, -len(source) - 1:] = torch.cat([source.new([eos]), source])
                    mask, new = inputs.ne(1).long(), ABSTRACT_NEW
                else:
                    inputs = torch.cat([torch.full((batch, 1), eos), prompts[:batch]], dim=1)
                    mask, new = torch.ones_like(inputs), NEW
                inputs, mask = inputs.to(device), mask.to(device)

                def run():
                    with torch.no_grad():
                        out = hf.generate(inputs, attention_mask=mask, do_sample=False, num_beams=beam,
                                          max_new_tokens=new, min_new_tokens=new, use_cache=True, pad_token_id=1)
                    run.outputs = out[:, inputs.size(1):].tolist()
                    return out[:, inputs.size(1):].numel()
                return run

            for mode in args.modes:
                name, batch, beam = MODES[mode]
                batch = min(batch, rows)
                figure = {"dtype": dtype, "mode": mode, "workload": name, "weights_gib": round(weights / 2**30, 3)}
                systems = {"ours": lambda: ours_run(mode, batch, beam), "hf": lambda: hf_run(mode, batch, beam)}
                if beam == 1 and mode != "abstracts64":
                    systems["fairseq_stock"] = lambda: ours_run(mode, batch, beam, SequenceGenerator)
                measured = {}
                for system, make in systems.items():
                    try:
                        measured[system] = m = Measured(make(), device, args.runs)
                        figure[f"{system}_tokens_per_s"] = round(m.tokens_per_s, 1)
                        figure[f"{system}_spread"] = [round(x, 1) for x in m.spread]
                        figure[f"{system}_peak_mib_over_weights"] = m.peak_mib and round(m.peak_mib, 1)
                    except Exception as err:  # noqa: BLE001  (one failing system leaves the others' figures)
                        figure[f"{system}_error"] = f"{type(err).__name__}: {err}"
                        traceback.print_exc()
                if "ours" in measured and "hf" in measured:
                    pairs = list(zip(measured["ours"].outputs, measured["hf"].outputs))
                    figure["sequences_identical_to_hf"] = f"{sum(a[:len(b)] == b[:len(a)] for a, b in pairs)}/{len(pairs)}"
                if "ours" in measured and "fairseq_stock" in measured:
                    figure["identical_to_fairseq_stock"] = measured["ours"].outputs == measured["fairseq_stock"].outputs
                print("GENERATION " + json.dumps(figure), flush=True)
                results.append(figure)
                if args.json:  # after each figure: a run its time limit ends keeps the figures it made
                    args.json.write_text(json.dumps({"setup": header, "results": results, "notes": notes,
                                                     "finished": False}, indent=1))
            del ours, hf
            if device == "cuda":
                torch.cuda.empty_cache()
    for note in notes:
        print("NOTE " + note, flush=True)
    print(f"\n{'dtype':5} {'workload':28} {'ours tok/s':>11} {'HF tok/s':>10} {'stock tok/s':>11} "
          f"{'ours MiB':>9} {'HF MiB':>8} same-as-HF stock-identical")
    for f in results:
        print(f"{f['dtype']:5} {f['workload']:28} {f.get('ours_tokens_per_s', 'err'):>11} "
              f"{f.get('hf_tokens_per_s', 'err'):>10} {f.get('fairseq_stock_tokens_per_s', '-'):>11} "
              f"{str(f.get('ours_peak_mib_over_weights')):>9} {str(f.get('hf_peak_mib_over_weights')):>8} "
              f"{f.get('sequences_identical_to_hf', '-'):>10} {f.get('identical_to_fairseq_stock', '-')}")
    if args.json:
        args.json.write_text(json.dumps({"setup": header, "results": results, "notes": notes, "finished": True},
                                        indent=1))
    if any(f.get("identical_to_fairseq_stock") is False for f in results):
        print("ERROR: BioGPTSequenceGenerator and fairseq's SequenceGenerator differ", flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
