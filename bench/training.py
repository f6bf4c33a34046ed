"""Training speed: a fairseq training step of our BioGPT-shaped model against
`transformers.BioGptForCausalLM` in a plain torch loop, same shape, vocabulary, batch and Adam, fp32 CPU.

    .venv/bin/python bench/training.py [--shape 4x256 --shape 12x768] [--batch 8 --length 256] [--pairs 5]

Ours is fairseq's own step: `task.train_step` (model, criterion, backward) and fairseq's Adam, with
the `chunked_cross_entropy` criterion; it is also timed against fairseq's `cross_entropy` (before/after).
Prints tokens/s of both (interleaved), the model FLOPs per token (6 N + 12 L T d), the machine's
measured fp32 matmul peak (the best of torch's MKL and oneDNN backends), each system's MFU and its
peak resident memory. Each system runs in a process of its own (at 24 x 1024 each holds 5.6 GB of
weights, gradients and Adam moments before activations; together they did not fit in 24 GiB), ours
beside one peer at a time; the parent hands out the steps in turn. In each process glibc keeps freed
memory for reuse during the whole step, as our criterion has it during its forward
(biogpt_fairseq/runtime/glibc_memory.py); `--return-freed-memory` measures all with glibc's default.
"""
import argparse
import contextlib
import multiprocessing
import os
import resource
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from interleave import interleaved, report, timed  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def matmul_peak_flops(n: int = 2048, repeats: int = 10) -> dict:
    """FLOP/s of the best fp32 n x n product of each of torch's CPU backends: MKL (what `torch.mm`
    and `linear` use) and oneDNN (the weight packed for it, as biogpt_fairseq/runtime/onednn.py does)."""
    from biogpt_fairseq.runtime import onednn

    a, b = torch.randn(n, n), torch.randn(n, n)
    packed = onednn.pack(b, n)
    runs = {"MKL": lambda: torch.mm(a, b), "oneDNN": lambda: onednn.linear(a, packed)}
    peaks = {}
    for name, run in runs.items():
        run()  # warm
        peaks[name] = max(timed(lambda: (run(), 2 * n ** 3)[1]) for _ in range(repeats))
    return peaks


def fairseq_step(dictionary_path: Path, layers: int, width: int, batch: int, length: int, criterion_name: str,
                 return_freed_memory: bool = False):
    """fairseq's training step and the model's FLOPs per token."""
    import argparse as ap

    from fairseq.criterions import CRITERION_REGISTRY
    from fairseq.data import Dictionary
    from fairseq.models.transformer_lm import TransformerLanguageModel
    from fairseq.optim.adam import FairseqAdam
    from fairseq.tasks.language_modeling import LanguageModelingConfig, LanguageModelingTask

    import biogpt_fairseq.plugin  # noqa: F401  (registers the plugin)
    from biogpt_fairseq.models.transformer_lm_biogpt import transformer_lm_biogpt

    dictionary = Dictionary.load(str(dictionary_path))
    task = LanguageModelingTask(LanguageModelingConfig(tokens_per_sample=length), dictionary)
    args = ap.Namespace(arch="transformer_lm_biogpt", decoder_layers=layers, decoder_embed_dim=width,
                        decoder_ffn_embed_dim=4 * width, decoder_attention_heads=max(1, width // 64),
                        max_target_positions=max(length, 1024))
    transformer_lm_biogpt(args)
    model = TransformerLanguageModel.build_model(args, task).train()
    options = {"return_freed_memory": True} if return_freed_memory and criterion_name != "cross_entropy" else {}
    criterion = CRITERION_REGISTRY[criterion_name](task, sentence_avg=False, **options)
    optimizer = FairseqAdam(ap.Namespace(lr=[1e-4], adam_betas="(0.9, 0.98)", adam_eps=1e-8, weight_decay=0.0,
                                         use_old_adam=False, fp16_adam_stats=False, tpu=False),
                            list(model.parameters()))
    tokens = torch.randint(4, len(dictionary), (batch, length + 1))
    sample = {"net_input": {"src_tokens": tokens[:, :-1].contiguous(), "src_lengths": torch.full((batch,), length)},
              "target": tokens[:, 1:].contiguous(), "ntokens": batch * length, "nsentences": batch, "id": torch.arange(batch)}

    def step():
        optimizer.zero_grad()
        task.train_step(sample, model, criterion, optimizer, update_num=0)
        optimizer.step()
        return batch * length
    n_params = sum(p.numel() for p in model.parameters()) - model.decoder.embed_positions.weight.numel()
    return step, 6 * n_params + 12 * layers * length * width


def hf_step(dictionary_path: Path, layers: int, width: int, batch: int, length: int):
    from fairseq.data import Dictionary
    from transformers import BioGptConfig, BioGptForCausalLM

    vocab_size = len(Dictionary.load(str(dictionary_path)))
    config = BioGptConfig(vocab_size=vocab_size, hidden_size=width, num_hidden_layers=layers,
                          num_attention_heads=max(1, width // 64), intermediate_size=4 * width,
                          max_position_embeddings=max(length, 1024))
    model = BioGptForCausalLM(config).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.98), eps=1e-8)
    tokens = torch.randint(4, vocab_size, (batch, length + 1))

    def step():
        optimizer.zero_grad()
        model(input_ids=tokens[:, :-1], labels=tokens[:, :-1]).loss.backward()
        optimizer.step()
        return batch * length
    return step, None


def build_step(system: str, dictionary: Path, layers: int, width: int, batch: int, length: int,
               return_freed_memory: bool):
    if system == "HF":
        return hf_step(dictionary, layers, width, batch, length)
    criterion = "chunked_cross_entropy" if system == "ours" else "cross_entropy"
    return fairseq_step(dictionary, layers, width, batch, length, criterion, return_freed_memory)


def serve(connection, system: str, dictionary: Path, layers: int, width: int, batch: int, length: int,
          return_freed_memory: bool) -> None:
    """A system's process: builds its step, warms it, then runs a step for each "step" it is sent
    (answering with the tokens it trained on); at "stop", answers with its peak resident memory, bytes."""
    from biogpt_fairseq.runtime.glibc_memory import kept_freed_memory

    with contextlib.ExitStack() as scope:
        if not return_freed_memory:
            scope.enter_context(kept_freed_memory())
        step, flops_per_token = build_step(system, dictionary, layers, width, batch, length, return_freed_memory)
        step()
        connection.send(flops_per_token)
        while connection.recv() == "step":
            connection.send(step())
    connection.send(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)  # (Linux counts KiB)


class System:
    """A system's training step, run in a process of its own."""

    def __init__(self, name: str, *config):
        spawning = multiprocessing.get_context("spawn")
        self.connection, child = spawning.Pipe()
        self.process = spawning.Process(target=serve, args=(child, name, *config))
        self.process.start()
        self.flops_per_token = self.connection.recv()

    def __call__(self) -> int:
        self.connection.send("step")
        return self.connection.recv()

    def stop(self) -> int:
        """Ends the process; its peak resident memory, bytes."""
        self.connection.send("stop")
        peak = self.connection.recv()
        self.process.join()
        return peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=os.environ.get("BIOGPT_DATA", str(REPO.parent / "shared" / "data")))
    parser.add_argument("--shape", action="append", help="LAYERSxWIDTH (default: 4x256 and 12x768)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=256)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--return-freed-memory", action="store_true",
                        help="leave glibc's default (freed blocks over 32 MB go back to the system) for all three")
    run(parser.parse_args())


def run(args) -> None:
    peaks = matmul_peak_flops()
    peak = max(peaks.values())  # the machine's: MFU counts against the best either backend reaches
    print(f"training, batch {args.batch} x {args.length} tokens, vocabulary 42,384, Adam, fp32 CPU, "
          f"{torch.get_num_threads()} threads; measured fp32 matmul peak "
          + ", ".join(f"{name} {flops / 1e9:.1f}" for name, flops in peaks.items()) + " GFLOP/s; glibc "
          + ("returns freed memory (its default)" if args.return_freed_memory else "keeps freed memory"), flush=True)
    dictionary = Path(args.data) / "biogpt" / "dict.txt"
    for shape in args.shape or ["4x256", "12x768"]:
        layers, width = map(int, shape.split("x"))
        config = (dictionary, layers, width, args.batch, args.length, args.return_freed_memory)
        ours = System("ours", *config)
        memory = {}
        for peer_name in ("HF", "cross_entropy"):
            peer = System(peer_name, *config)
            result = interleaved(ours, peer, pairs=args.pairs)
            memory[peer_name] = peer.stop()
            if peer_name == "HF":
                report(f"{shape} (tokens/s)", "tok/s", "HF", result)
                print(f"  {ours.flops_per_token / 1e6:.0f} MFLOP per token; MFU ours "
                      f"{result['ours'] * ours.flops_per_token / peak:.1%}, HF "
                      f"{result['peer'] * ours.flops_per_token / peak:.1%}", flush=True)
            else:
                report(f"{shape}, against fairseq's cross_entropy criterion (tokens/s)", "tok/s", "cross_entropy",
                       result)
        memory["ours"] = ours.stop()
        print(f"  {shape} peak resident memory: " + ", ".join(f"{name} {size / 2 ** 30:.2f} GiB"
                                                             for name, size in memory.items()), flush=True)


if __name__ == "__main__":
    main()
