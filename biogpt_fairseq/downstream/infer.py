"""The original release's inference chain for a fine-tuned model, in one command.

    biogpt-infer CHECKPOINT_DIR --data-bin DIR [--split test] [--out DIR]

does what the dataset's `infer.sh` does: picks the checkpoint (the average of
the last 5 epoch checkpoints, written as CHECKPOINT_DIR/checkpoint_avg.pt if
absent; HoC: checkpoint_last.pt), generates greedily for every source of the
split with the original's length limit (the whole sequence within the model's
positions; on fairseq's generator, or `--engine ctranslate2|openvino`), writes each whole sequence as the original does
(`generate_CHECKPOINT`), removes the BPE and detokenizes it (`.detok`),
decodes it (`.detok.extracted.jsonl`, and the original's own file:
`.PubTator`, `.json` or `.txt`) and scores it (`.scores.json`; on stdout what
the original's scorer prints; DDI and KD-DTI also the scorer's
`.detok.extracted.eval_res.json`). The dataset, its gold files and the
prompt come from the data directory's manifest and the checkpoint.

`--constrained` decodes as the original's ConstrainedGenerator (each generated
token one of the source's or of the target template's words); `--decoder
robust` decodes with ours instead of the original's postprocess.
"""
import argparse
import json
import math
import sys
from pathlib import Path

from biogpt_fairseq.downstream import DECODERS
from biogpt_fairseq.downstream import manifest as manifest_file
from biogpt_fairseq.downstream.evaluate import write_scorer_files
from biogpt_fairseq.downstream.postprocess import decode_all, detokenize
from biogpt_fairseq.engines import add_arguments as add_engine_arguments
from biogpt_fairseq.textio import UserError, atomic_output, json_line, read_lines, run_cli

ORIGINAL_MAX_TOKENS = 12000  # inference.py's batches


def choose_checkpoint(directory: Path, spec, checkpoint: str = None) -> Path:
    """The checkpoint the original's infer.sh decodes with: checkpoint_avg.pt (the last 5 epoch
    checkpoints averaged, written once) or, for a dataset trained by updates, checkpoint_last.pt."""
    if checkpoint:
        path = directory / checkpoint
        if not path.is_file():
            raise UserError(f"{path}: no such checkpoint")
        return path
    if spec.inference_checkpoint == "last":
        path = directory / "checkpoint_last.pt"
        if not path.is_file():
            raise UserError(f"{path}: no such checkpoint")
        return path
    path = directory / "checkpoint_avg.pt"
    if not path.is_file():
        import torch

        from biogpt_fairseq.tools.average_checkpoints import average, last_checkpoints

        inputs = last_checkpoints(directory, 5, by_update=False)
        print(f"infer: averaging {', '.join(p.name for p in inputs)} -> {path}", file=sys.stderr)
        with atomic_output(str(path), "wb") as handle:
            torch.save(average(inputs), handle)
    return path


def infer(checkpoint_dir: Path, data_bin: Path, split: str = "test", out: Path = None, checkpoint: str = None,
          beam: int = 1, decoder: str = "original", constrained: bool = False, cpu: bool = False,
          data: str = None, max_new_tokens: int = None, dtype: str = "fp32", engine: str = "fairseq",
          beam_ranking: str = "fairseq") -> dict:
    from biogpt_fairseq.generator import Generator  # (torch, loaded where a model is)

    manifest = manifest_file.read(data_bin)
    spec = manifest_file.spec(manifest)
    path = choose_checkpoint(checkpoint_dir, spec, checkpoint)
    model = Generator.from_pretrained(path, data=str(data_bin), dtype=dtype, engine=engine,
                                      device="cpu" if cpu else None, max_tokens=ORIGINAL_MAX_TOKENS,
                                      beam_ranking=beam_ranking)
    manifest_file.agree("the data's dataset", manifest["dataset"], model.dataset, path)
    constraint = {"allowed_text": spec.constraint_text(manifest["variant"])} if constrained else {}
    lines = model.complete_tokens(model.engine.split_sources(data_bin, split), beam=beam, bpe=False,
                                  max_new_tokens=max_new_tokens, **constraint)
    out = Path(out or checkpoint_dir)
    generated = out / f"generate_{path.name}"
    lines = [line.replace("@@ ", "") for line in lines]  # as the original's `sed -i "s/@@ //g"` leaves it
    with atomic_output(str(generated)) as handle:
        handle.writelines(line + "\n" for line in lines)
    detok = [detokenize(line) for line in lines]
    with atomic_output(f"{generated}.detok") as handle:
        handle.writelines(line + "\n" for line in detok)
    pmids = None
    if spec.writes_ids:
        pmids = [line for _, line in read_lines(str(data_bin / f"{split}.pmid"))]
    raw_dir = manifest_file.raw_dir(manifest, data)
    resources = spec.decoding_resources(raw_dir, split, decoder)
    rows = decode_all(spec, detok, pmids, None, resources, decoder, manifest["variant"], model.layout)
    with atomic_output(f"{generated}.detok.extracted.jsonl") as handle:
        handle.writelines(json_line(r) for r in rows)
    original_out = f"{generated}.detok.extracted.{spec.original_extension}"
    with atomic_output(original_out) as handle:
        handle.writelines(spec.original_lines(rows))
    failed = sum(not r["parsed"] for r in rows)
    print(f"infer {spec.name} {split}: {path.name}, {'constrained ' if constrained else ''}beam {beam}; "
          f"failed = {failed}, total = {len(rows)} -> {generated}.detok.extracted.jsonl", file=sys.stderr)
    gold = raw_dir / spec.gold_files[split]
    figures = spec.score(rows, gold)
    write_scorer_files(spec, rows, gold, original_out)
    with atomic_output(f"{generated}.scores.json") as handle:
        json.dump({"dataset": spec.name, "split": split, "checkpoint": str(path),
                   **{k: None if isinstance(v, float) and math.isnan(v) else v for k, v in figures.items()}}, handle)
        handle.write("\n")
    sys.stdout.write(spec.scorer_printout(figures, original_out))
    return figures


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint_dir", help="the fine-tuning run's --save-dir")
    parser.add_argument("--data-bin", required=True, help="the fine-tuning data directory (preprocess/finetune.sh)")
    parser.add_argument("--split", default="test", help="the split to decode and score (default: test)")
    parser.add_argument("--checkpoint", help="a checkpoint file in CHECKPOINT_DIR instead of the original's choice")
    parser.add_argument("--out", help="where the outputs go (default: CHECKPOINT_DIR, as the original)")
    parser.add_argument("--beam", type=int, default=1, help="beam size (default: 1, greedy, as the original)")
    parser.add_argument("--decoder", default="original", choices=DECODERS,
                        help="'original': the release's postprocess (default); 'robust': ours")
    parser.add_argument("--constrained", action="store_true",
                        help="the original's constrained decoding: only the source's and the template's words")
    parser.add_argument("--max-new-tokens", type=int,
                        help="at most N generated tokens (default: the original's limit, the whole sequence within "
                             "the model's positions)")
    add_engine_arguments(parser)
    parser.add_argument("--cpu", action="store_true", help="decode on the CPU even where a GPU is available")
    parser.add_argument("--data", help="the data mirror, if it moved since the data were built")
    args = parser.parse_args(argv)
    infer(Path(args.checkpoint_dir), Path(args.data_bin), args.split, args.out and Path(args.out), args.checkpoint,
          args.beam, args.decoder, args.constrained, args.cpu, args.data, args.max_new_tokens, args.dtype, args.engine,
          args.beam_ranking)
    return 0


if __name__ == "__main__":
    run_cli(main)
