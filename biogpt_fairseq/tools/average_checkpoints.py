"""Average the parameters of the last N checkpoints, as BioGPT's fine-tuning recipe does.

    python -m biogpt_fairseq.tools.average_checkpoints --inputs SAVE_DIR --num-epoch-checkpoints 5 --output avg.pt
    python -m biogpt_fairseq.tools.average_checkpoints --inputs SAVE_DIR --num-update-checkpoints 5 --output avg.pt

(fairseq's scripts/average_checkpoints.py, which the original copies, does this
but is not part of fairseq's pip package.) The output is the newest checkpoint
with averaged weights, the same bits as that script's; it loads wherever a
checkpoint does (fairseq-generate --path, the hub).
"""
import argparse
import re
import sys
from pathlib import Path
from typing import List

import torch

from biogpt_fairseq.textio import UserError, atomic_output, run_cli

EPOCH = re.compile(r"^checkpoint(\d+)\.pt$")
UPDATE = re.compile(r"^checkpoint_\d+_(\d+)\.pt$")


def last_checkpoints(directory: Path, n: int, by_update: bool) -> List[Path]:
    pattern = UPDATE if by_update else EPOCH
    numbered = sorted((int(m.group(1)), p) for p in directory.iterdir() if (m := pattern.match(p.name)))
    if not numbered:
        kind = "checkpoint_E_U.pt (update)" if by_update else "checkpointN.pt (epoch)"
        raise UserError(f"{directory}: no {kind} checkpoints")
    return [p for _, p in numbered[-n:]]


def average(paths: List[Path], optimizer_state: bool = True) -> dict:
    """fairseq's scripts/average_checkpoints.py, which the original's infer.sh runs, to the bit: the newest
    checkpoint, each of its parameters replaced by the sum over the checkpoints, newest first, in the
    parameter's dtype (fp16 summed in fp32), divided by their number (integers floor-divided).
    `optimizer_state=False` leaves the optimizer's state out (the original keeps the newest's)."""
    from fairseq.checkpoint_utils import load_checkpoint_to_cpu

    import biogpt_fairseq.plugin  # noqa: F401  (registers the plugin)

    averaged, sums = None, {}
    for path in reversed(paths):  # (one checkpoint in memory at a time, beside the sums)
        state = load_checkpoint_to_cpu(str(path))
        if averaged is None:
            averaged = state
        elif list(state["model"]) != list(sums):
            raise UserError(f"{path}: its parameters differ from {paths[-1]}'s: not the same model")
        for key, value in state["model"].items():
            value = value.float() if value.dtype == torch.float16 else value
            if key in sums:
                sums[key] += value
            else:
                sums[key] = value.clone()
    for total in sums.values():
        if total.is_floating_point():
            total.div_(len(paths))
        else:
            total.floor_divide_(len(paths))
    averaged["model"] = sums
    if not optimizer_state:
        averaged["last_optimizer_state"] = None
    return averaged


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inputs", required=True, help="the training run's --save-dir")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--num-epoch-checkpoints", type=int, help="average the last N checkpointN.pt")
    which.add_argument("--num-update-checkpoints", type=int, help="average the last N checkpoint_E_U.pt")
    parser.add_argument("--output", required=True, help="averaged checkpoint to write")
    parser.add_argument("--no-optimizer-state", action="store_true",
                        help="leave the optimizer's state out of the output (the original keeps the newest "
                             "checkpoint's: with Adam, two values a parameter)")
    args = parser.parse_args(argv)
    directory = Path(args.inputs)
    if not directory.is_dir():
        raise UserError(f"{directory}: no such directory")
    by_update = args.num_update_checkpoints is not None
    paths = last_checkpoints(directory, args.num_update_checkpoints or args.num_epoch_checkpoints, by_update)
    state = average(paths, optimizer_state=not args.no_optimizer_state)
    with atomic_output(args.output, "wb") as handle:
        torch.save(state, handle)
    print(f"average_checkpoints: averaged {', '.join(p.name for p in paths)} -> {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    run_cli(main)
