"""The generation engines: each engine and precision through our interface, against the same engine driven
directly through its own API, and against Hugging Face's fp32 `generate`, interleaved in one process
(every system once a round, in the same order).

    .venv/bin/python bench/engines.py [--layers 24 --width 1024] [--rounds 3]
        [--modes greedy1 greedy16 beam5 abstracts16] [--systems ctranslate2:int8 openvino:int8 ...]
    .venv/bin/python bench/engines.py --large --without-fairseq --model-dir DIR --systems openvino:int8
        (BioGPT-Large's shape, a process for each system: the model and its conversions kept in DIR)

The model is bench/generation.py's: BioGPT's shape with the released vocabulary and random weights, one
Hugging Face directory that every system loads (ours through `BioGPT.from_pretrained(HF_DIR, engine=,
dtype=)`, which converts it once and keeps the conversion). Prompts are 32 tokens of real abstracts, 64
new tokens; `abstracts16` is 16 whole BC5CDR test abstracts of about the median length, 32 new tokens
each (the extraction setting). Figures are new tokens per second (each system counts the tokens it
generated), each after an untimed first run in its mode; "interface / direct" is our engine's figure
over the same engine's own API on the same converted model, asked for the same search (OpenVINO's
stopping follows the ranking, as its engine's does; each ranking has its direct run); greedy tokens of
every system are checked against ours on the fairseq engine. At beam sizes above 1 each system also runs with
`beam_ranking="engine"` ("SYSTEM engine-ranked": the engine's own pick, without fairseq's scoring of
the hypotheses), with how many of the sources it returns the same tokens for as the
default ranking. `--without-fairseq` leaves the fairseq engine out and checks greedy tokens against
HF's: BioGPT-Large's fairseq copy (with its packed copies, 12.6 GB) does not fit in 24 GiB beside HF's
and another engine's. Memory: the resident memory a system's run adds at its peak (sampled every 5 ms)
to the process. The batch-1 limit of a precision is its weights' bytes a token over this machine's read
bandwidth (bench/generation.py's measure).
"""
import argparse
import contextlib
import copy
import statistics
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generation import (ABSTRACT_NEW, MODES, NEW, PROMPT, abstracts, load_pair, make_model,  # noqa: E402
                        streaming_bandwidth)
from interleave import timed  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SYSTEMS = ["ctranslate2:fp32", "ctranslate2:int8", "openvino:fp32", "openvino:int8", "openvino:int4"]
# new tokens of an untimed first run of each system in each mode: OpenVINO's first inferences of a shape
# took up to twice as long as the next ones, which fell on whichever of a pair ran first
WARM_UP = 4
WEIGHT_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2, "int8": 1, "int4": 0.5}


def peak_rss_added(run) -> float:
    """MiB of resident memory `run()` adds at its peak."""
    import psutil

    process, peak, done = psutil.Process(), [0], threading.Event()
    base = process.memory_info().rss

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            time.sleep(0.005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        run()
    finally:
        done.set()
        sampler.join()
    return max(0, peak[0] - base) / 2**20


def sources_for(ours, data: Path, mode: str) -> list:
    """The mode's sources as our interface takes them (token ids ending with eos)."""
    eos = torch.tensor([ours.engine.dictionary.eos()])
    if mode == "abstracts16":
        return [torch.cat([s, eos]) for s in abstracts(ours, data, 16)]
    import json

    documents = json.loads((data / "BC5CDR" / "raw" / "test.json").read_text()).values()
    rows = [ours.engine.encode(d["title"] + " " + d["abstract"])[:PROMPT] for d in documents]
    size = MODES[mode][1]
    return [torch.cat([r, eos]) for r in rows if len(r) == PROMPT][:size]


def interface_run(model, sources, beam, new):
    def run():
        completions = model.engine.generate(sources, beam=beam, max_new_tokens=new)
        return sum(len(c.tokens) for c in completions)
    return run


def engine_ranked(model):
    """The same loaded model returning the engine's own pick among its beam hypotheses
    (`beam_ranking="engine"`), its network shared (BioGPT-Large's would not fit twice)."""
    ranked = copy.copy(model)
    ranked.engine = copy.copy(model.engine)
    ranked.engine.beam_ranking = "engine"
    return ranked


def direct_run(model, sources, beam, new):
    """The same engine and converted model through its own API, asked for what our interface asks."""
    engine = model.engine
    prefixes = [engine.prefix(s) for s in sources]
    if engine.name == "ctranslate2":
        start = [[engine.symbols[i] for i in p.tolist()] for p in prefixes]

        def run():
            results = engine.generator.generate_batch(start, max_length=new, beam_size=beam,
                                                      include_prompt_in_result=False, suppress_sequences=[["<blank>"]])
            return sum(len(r.sequences_ids[0]) for r in results)
        return run
    ids, mask = engine._padded([p.tolist() for p in prefixes])

    def run():
        output = engine.model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=new, num_beams=beam,
                                       do_sample=False, eos_token_id=engine.dictionary.eos(),
                                       pad_token_id=engine.dictionary.pad(), early_stopping=engine.fairseq_search)
        generated = output[:, ids.size(1):]
        return int((generated != engine.dictionary.pad()).sum())
    return run


def hf_inputs(sources, pad):
    rows = [s[:-1].tolist() for s in sources]
    width = max(len(r) for r in rows)
    ids = torch.tensor([[pad] * (width - len(r)) + [2] + r for r in rows])  # (HF's BioGPT starts with </s>)
    return ids, (ids != pad).long()


def hf_run(hf, sources, beam, new, pad):
    ids, mask = hf_inputs(sources, pad)

    def run():
        with torch.no_grad():
            output = hf.generate(input_ids=ids, attention_mask=mask, max_new_tokens=new, num_beams=beam,
                                 do_sample=False, eos_token_id=2, pad_token_id=pad)
        return int((output[:, ids.size(1):] != pad).sum())
    return run


def hf_greedy_tokens(hf, sources, new, pad) -> list:
    """HF's greedy tokens for each source, up to its eos."""
    ids, mask = hf_inputs(sources, pad)
    with torch.no_grad():
        output = hf.generate(input_ids=ids, attention_mask=mask, max_new_tokens=new, do_sample=False,
                             eos_token_id=2, pad_token_id=pad)
    return [row[:row.index(2)] if 2 in row else row for row in output[:, ids.size(1):].tolist()]


def mode_runs(hf, fairseq, models: dict, sources, beam, new) -> dict:
    """A run of each system for one mode: HF, the fairseq engine (where loaded), and each engine through our
    interface, directly, and (beam) engine-ranked."""
    runs = {"HF fp32": hf_run(hf, sources, beam, new, 1)}
    if fairseq:
        runs["fairseq:fp32"] = interface_run(fairseq, sources, beam, new)
    for system, model in models.items():
        runs[system] = interface_run(model, sources, beam, new)
        runs[system + " direct"] = direct_run(model, sources, beam, new)
        if beam > 1:
            runs[system + " engine-ranked"] = interface_run(engine_ranked(model), sources, beam, new)
            runs[system + " engine-ranked direct"] = direct_run(engine_ranked(model), sources, beam, new)
    return runs


def rounds(runs: dict, count: int) -> dict:
    """Each run's tokens per second in `count` rounds, the runs interleaved within a round, every other round
    in the reverse order: a run that follows another model's meets caches and threads that model left, so
    each pair (an engine through our interface, then directly) takes both places alike."""
    figures = {name: [] for name in runs}
    for number in range(count):
        for name in list(runs)[::-1 if number % 2 else 1]:
            figures[name].append(timed(runs[name]))
    return figures


def main() -> None:
    from biogpt_fairseq import BioGPT

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", type=int, default=24)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--large", action="store_true", help="BioGPT-Large's shape and vocabulary")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    parser.add_argument("--systems", nargs="+", default=SYSTEMS, help="ENGINE:DTYPE, e.g. ctranslate2:int8")
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--model-dir", help="keep the random model, and each engine's conversion of it, here "
                        "(reused by the next run of the same shape) instead of a temporary directory")
    parser.add_argument("--without-fairseq", action="store_true",
                        help="leave the fairseq engine out; greedy tokens are checked against HF fp32's")
    args = parser.parse_args()
    if args.large:
        args.layers, args.width = 48, 1600
    data = Path(args.data)
    warnings.filterwarnings("ignore")
    with contextlib.ExitStack() as stack:
        tmp = args.model_dir or stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-engines-"))
        make_model(data, args.layers, args.width, Path(tmp), vocabulary="biogpt-large" if args.large else "biogpt")
        bandwidth = streaming_bandwidth()
        models = {}  # (loaded before HF's and fairseq's copies: a conversion's peak meets fewer weights)
        for system in args.systems:
            engine, dtype = system.split(":")
            loaded = time.perf_counter()
            models[system] = BioGPT.from_pretrained(Path(tmp) / "hf", engine=engine, dtype=dtype, batch_size=64)
            print(f"{system}: loaded (converted on first use) in {time.perf_counter() - loaded:.1f} s", flush=True)
        fairseq, hf = load_pair(Path(tmp), with_fairseq=not args.without_fairseq)
        parameters = sum(p.numel() for p in hf.parameters())
        print(f"# {args.layers} x {args.width}, {parameters / 1e6:.0f}M parameters; read bandwidth "
              f"{bandwidth / 1e9:.1f} GB/s; torch threads {torch.get_num_threads()}; batch-1 limits (tok/s): "
              + ", ".join(f"{s} {bandwidth / (parameters * WEIGHT_BYTES[s.split(':')[1]]):.1f}" for s in models),
              flush=True)
        for mode in args.modes:
            _, _, beam = MODES[mode]
            new = ABSTRACT_NEW if mode == "abstracts16" else NEW
            sources = sources_for(fairseq or next(iter(models.values())), data, mode)
            for run in mode_runs(hf, fairseq, models, sources, beam, WARM_UP).values():
                run()
            runs = mode_runs(hf, fairseq, models, sources, beam, new)
            if beam == 1 and any(system.endswith("fp32") for system in models):
                expected = ([c.tokens.tolist() for c in fairseq.engine.generate(sources, max_new_tokens=new)]
                            if fairseq else hf_greedy_tokens(hf, sources, new, 1))
            for system, model in models.items():
                if beam > 1:
                    default, own = (m.engine.generate(sources, beam=beam, max_new_tokens=new)
                                    for m in (model, engine_ranked(model)))
                    print(f"{mode} {system}: the engine's ranking returns the default ranking's tokens on "
                          f"{sum(a.tokens.tolist() == b.tokens.tolist() for a, b in zip(default, own))} of "
                          f"{len(own)}", flush=True)
                if beam == 1 and system.endswith("fp32"):
                    got = [c.tokens.tolist() for c in model.engine.generate(sources, max_new_tokens=new)]
                    print(f"{mode} {system}: greedy tokens as {'the fairseq engine' if fairseq else 'HF'}'s on "
                          f"{sum(e == g for e, g in zip(expected, got))} of {len(got)}", flush=True)
            figures = rounds(runs, args.rounds)
            hf_figures = figures["HF fp32"]
            for name, values in figures.items():
                line = (f"{mode} {name}: {statistics.median(values):.1f} tok/s, x HF fp32 "
                        f"{statistics.median([v / h for v, h in zip(values, hf_figures)]):.2f}")
                system = name.replace(" engine-ranked", "")
                if system in models and not name.endswith(" direct"):
                    direct = [v / d for v, d in zip(values, figures[name + " direct"])]
                    line += (f", interface / direct {statistics.median(direct):.3f} (min {min(direct):.3f}, max "
                             f"{max(direct):.3f}), +{peak_rss_added(runs[name]):.0f} MiB")
                print(line, flush=True)


if __name__ == "__main__":
    main()
