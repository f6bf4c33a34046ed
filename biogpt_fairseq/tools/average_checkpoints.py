"""Average the parameters of the last N checkpoints, as BioGPT's fine-tuning recipe does.

    python -m biogpt_fairseq.tools.average_checkpoints --inputs SAVE_DIR --num-epoch-checkpoints 5 --output avg.pt
    python -m biogpt_fairseq.tools.average_checkpoints --inputs SAVE_DIR --num-update-checkpoints 5 --output avg.pt

(fairseq's scripts/average_checkpoints.py does this but is not part of its
pip package.) The output is the newest checkpoint with averaged weights; it
loads wherever a checkpoint does (fairseq-generate --path, the hub).
"""
import argparse
import re
import sys
from pathlib import Path
from typing import List

import torch

from biogpt_fairseq.textio import UserError, run_cli

EPOCH = re.compile(r"^checkpoint(\d+)\.pt$")
UPDATE = re.compile(r"^checkpoint_\d+_(\d+)\.pt$")


def last_checkpoints(directory: Path, n: int, by_update: bool) -> List[Path]:
    pattern = UPDATE if by_update else EPOCH
    numbered = sorted((int(m.group(1)), p) for p in directory.iterdir() if (m := pattern.match(p.name)))
    if not numbered:
        kind = "checkpoint_E_U.pt (update)" if by_update else "checkpointN.pt (epoch)"
        raise UserError(f"{directory}: no {kind} checkpoints")
    return [p for _, p in numbered[-n:]]


def average(paths: List[Path]) -> dict:
    from fairseq.checkpoint_utils import load_checkpoint_to_cpu

    import biogpt_fairseq.plugin  # noqa: F401  (registers the plugin)

    states = [load_checkpoint_to_cpu(str(p)) for p in paths]
    keys = states[-1]["model"].keys()
    for path, state in zip(paths, states):
        if state["model"].keys() != keys:
            raise UserError(f"{path}: its parameters differ from {paths[-1]}'s: not the same model")
    averaged = dict(states[-1])
    averaged["model"] = {
        key: (sum(s["model"][key].double() for s in states) / len(states)).to(states[-1]["model"][key].dtype)
        if states[-1]["model"][key].is_floating_point() else states[-1]["model"][key]
        for key in keys
    }
    averaged["last_optimizer_state"] = None  # meaningless for an average; keeps the file small
    return averaged


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inputs", required=True, help="the training run's --save-dir")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--num-epoch-checkpoints", type=int, help="average the last N checkpointN.pt")
    which.add_argument("--num-update-checkpoints", type=int, help="average the last N checkpoint_E_U.pt")
    parser.add_argument("--output", required=True, help="averaged checkpoint to write")
    args = parser.parse_args(argv)
    directory = Path(args.inputs)
    if not directory.is_dir():
        raise UserError(f"{directory}: no such directory")
    by_update = args.num_update_checkpoints is not None
    paths = last_checkpoints(directory, args.num_update_checkpoints or args.num_epoch_checkpoints, by_update)
    state = average(paths)
    tmp = Path(f"{args.output}.tmp")
    torch.save(state, tmp)
    tmp.replace(args.output)
    print(f"average_checkpoints: averaged {', '.join(p.name for p in paths)} -> {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    run_cli(main)
