"""biogpt-convert: BioGPT between fairseq checkpoints and Hugging Face's `BioGptForCausalLM`
(models/hf_conversion.py), and into the generation engines' own formats.

    python -m biogpt_fairseq.tools.convert to-hf CHECKPOINT.pt [--data DIR_WITH_DICT] [--bpe-codes CODES] --out OUT_DIR
    python -m biogpt_fairseq.tools.convert from-hf HF_DIR --out DIR
    python -m biogpt_fairseq.tools.convert to-ctranslate2 MODEL [--dtype fp32|int8|fp16|bf16] [--out DIR]
    python -m biogpt_fairseq.tools.convert to-openvino MODEL [--dtype fp32|int8|int4] [--out DIR]

to-hf writes a directory that `BioGptForCausalLM.from_pretrained` and `BioGptTokenizer.from_pretrained`
load offline (a prompt model's learned tokens as vocabulary entries, prompt.json saying how to build
the prompt); from-hf writes checkpoint.pt, dict.txt and bpecodes, which fairseq and
`biogpt_fairseq.BioGPT` load; both directions are lossless for the weights.

to-ctranslate2 and to-openvino make what `--engine ctranslate2` / `openvino`
(biogpt_fairseq.engines) otherwise make on first use: by default beside the
checkpoint, under a key of its content and the precision, where the engine
finds it.
"""
import argparse
import importlib
import sys
from pathlib import Path
from typing import Optional

from biogpt_fairseq.models.hf_conversion import from_hf, to_hf
from biogpt_fairseq.textio import UserError, run_cli


def to_engine(engine: str, model: str, data: Optional[str], dtype: str, out: Optional[str]) -> Path:
    """Convert for an engine: into `out`, or where the engine looks (kept as is when already there)."""
    from biogpt_fairseq.engines.base import converted_dir, load_checkpoint

    keep = []
    checkpoint = load_checkpoint(model, data=data, keep=keep)
    target = Path(out) if out else converted_dir(checkpoint, engine, dtype)
    if target.exists():
        if out:
            raise UserError(f"{target}: already exists")
        return target
    return importlib.import_module(f"biogpt_fairseq.engines.{engine}_engine").convert(checkpoint, target, dtype)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    to = commands.add_parser("to-hf", help="fairseq checkpoint -> Hugging Face directory")
    to.add_argument("checkpoint", help="fairseq checkpoint (.pt)")
    to.add_argument("--data", help="directory holding the model's dictionary (a fine-tuning data-bin, or a model "
                                   "directory with dict.txt; or the file itself); default: the checkpoint's directory")
    to.add_argument("--bpe-codes", help="the fastBPE codes the dictionary was built with (default: DATA/bpecodes)")
    to.add_argument("--out", required=True, help="output directory")
    back = commands.add_parser("from-hf", help="Hugging Face directory -> fairseq checkpoint.pt, dict.txt, bpecodes")
    back.add_argument("hf_dir", help="a BioGptForCausalLM directory (config.json, model.safetensors, vocab.json, merges.txt)")
    back.add_argument("--out", required=True, help="output directory")
    for engine in ("ctranslate2", "openvino"):
        fast = commands.add_parser(f"to-{engine}", help=f"fairseq checkpoint or HF directory -> {engine}'s model "
                                                        "directory, where the engine looks for it")
        fast.add_argument("model", help="a fairseq checkpoint, its directory, or a Hugging Face directory")
        fast.add_argument("--data", help="where the model's dictionary and BPE codes are (default: beside it)")
        fast.add_argument("--dtype", default="fp32", choices=["fp32", "int8"] + (["int4"] if engine == "openvino"
                                                                                 else ["fp16", "bf16"]),
                          help="the precision the weights are stored in (default fp32)")
        fast.add_argument("--out", help="another directory (default: beside the checkpoint, under a key of its "
                                        "content and the precision, where --engine finds it)")
    args = parser.parse_args(argv)
    if args.command in ("to-ctranslate2", "to-openvino"):
        print(f"wrote {to_engine(args.command[3:], args.model, args.data, args.dtype, args.out)}", file=sys.stderr)
        return 0
    if args.command == "to-hf":
        data = Path(args.data) if args.data else Path(args.checkpoint).parent
        codes = Path(args.bpe_codes) if args.bpe_codes else (data.parent if data.is_file() else data) / "bpecodes"
        if not codes.is_file():
            raise UserError(f"{codes}: no such file (the model's BPE codes: pass --bpe-codes)")
        out = to_hf(Path(args.checkpoint), data, codes, Path(args.out))
    else:
        out = from_hf(Path(args.hf_dir), Path(args.out))
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    run_cli(main)
