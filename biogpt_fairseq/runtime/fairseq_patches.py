"""Fixes to fairseq 0.12 bugs that BioGPT users hit, applied when the plugin loads.

Each fix is the smallest change at the place of the bug, and is tested against
the behaviour it repairs (tests/test_fairseq_fixes.py, test_safe_loading.py,
test_distributed.py, test_fault_recovery.py).
"""
import os
import types

import hydra
import numpy as np
import torch
from fairseq import checkpoint_utils, file_io, sequence_generator
from fairseq.data import data_utils
from fairseq.dataclass import utils as dataclass_utils
from fairseq.distributed import utils as distributed_utils
from fairseq.models import distributed_fairseq_model
from fairseq.ngram_repeat_block import NGramRepeatBlock
from hydra import version as hydra_version

from biogpt_fairseq.runtime import safe_checkpoint

_no_repeat_ngram_on_buffer = NGramRepeatBlock._no_repeat_ngram


def _no_repeat_ngram_on_generated_prefix(self, tokens, lprobs, bsz: int, beam_size: int, step: int):
    # SequenceGenerator passes its whole preallocated token buffer; the CPU
    # path compares against the buffer's last n-1 entries, which are padding,
    # so --no-repeat-ngram-size never banned anything on CPU. (The CUDA kernel
    # indexes by `step` and is unaffected.)
    lprobs = _no_repeat_ngram_on_buffer(self, tokens[:, : step + 1], lprobs, bsz, beam_size, step)
    forced_step, forced_rows, forced_lprobs = self.__dict__.pop("forced", (None, None, None))
    if forced_step == step:
        # A forced prefix token that repeats an n-gram of the prefix was banned too: that beam's
        # score became -inf and the search ended in an assertion. The prefix is given, not generated.
        lprobs[forced_rows] = forced_lprobs
    return lprobs


NGramRepeatBlock._no_repeat_ngram = _no_repeat_ngram_on_generated_prefix

_force_prefix_tokens = sequence_generator.SequenceGenerator._prefix_tokens


def _force_prefix_tokens_outside_the_ngram_ban(self, step, lprobs, scores, tokens, prefix_tokens, beam_size):
    lprobs, tokens, scores = _force_prefix_tokens(self, step, lprobs, scores, tokens, prefix_tokens, beam_size)
    if self.repeat_ngram_blocker is not None:  # what the ban, next in this step, must leave alone
        forced_rows = prefix_tokens[:, step].ne(self.pad).repeat_interleave(beam_size)
        self.repeat_ngram_blocker.forced = (step, forced_rows, lprobs[forced_rows].clone())
    return lprobs, tokens, scores


sequence_generator.SequenceGenerator._prefix_tokens = _force_prefix_tokens_outside_the_ngram_ban


_compiled_batch_by_size = data_utils.batch_by_size


def _batch_by_size_keeping_the_tail(indices, num_tokens_fn, num_tokens_vec=None, max_tokens=None,
                                    max_sentences=None, required_batch_size_multiple=1, fixed_shapes=None):
    # The compiled batcher (fairseq-fixed 0.12.3.1 built with Cython 3) drops a final
    # partial batch smaller than required_batch_size_multiple: fairseq-generate's default
    # of 8 then silently skips up to 7 test examples. Its batches are contiguous splits
    # of `indices`, so what is missing is exactly the tail.
    batches = _compiled_batch_by_size(indices, num_tokens_fn, num_tokens_vec, max_tokens, max_sentences,
                                      required_batch_size_multiple, fixed_shapes)
    covered = sum(len(batch) for batch in batches)
    if fixed_shapes is None and covered < len(indices):
        batches.append(np.asarray(indices[covered:]))
    return batches


data_utils.batch_by_size = _batch_by_size_keeping_the_tail


class _TorchLoadingSafely(types.ModuleType):
    """torch as a fairseq module sees it, with `torch.load` (which fairseq calls naming no
    weights_only) going through the allow-listed loader: every checkpoint fairseq opens
    (fairseq-train's restore and --finetune-from-model, fairseq-generate --path, the hub)
    is loaded as an untrusted file."""

    def __init__(self, also_allowed=()):
        super().__init__("torch")
        self.also_allowed = list(also_allowed)

    def __getattr__(self, name):
        return getattr(torch, name)

    def load(self, f, map_location=None, **_):
        return safe_checkpoint.load(f, map_location=map_location or "cpu", also_allowed=self.also_allowed)


checkpoint_utils.torch = _TorchLoadingSafely()
# Rank 0 broadcasts the checkpoint state it loaded to the other ranks as a pickle, with fairseq's
# placeholders for the tensors sent apart.
distributed_utils.torch = _TorchLoadingSafely(also_allowed=[distributed_utils._TensorPlaceholder])


_DistributedDataParallel = distributed_fairseq_model.DistributedDataParallel


def _distributed_data_parallel_on_cpu(module, device_ids=None, output_device=None, **kwargs):
    # fairseq passes device_ids=[device_id] for every module; DDP rejects them for a CPU module,
    # so --cpu training (gloo, under torchrun or Slurm) could not run distributed at all.
    if next(module.parameters()).device.type == "cpu":
        device_ids = output_device = None
    return _DistributedDataParallel(module, device_ids=device_ids, output_device=output_device, **kwargs)


distributed_fairseq_model.DistributedDataParallel = _distributed_data_parallel_on_cpu


_copy = file_io.PathManager.copy


def _copy_then_rename(src_path: str, dst_path: str, overwrite: bool = False):
    # checkpoint_last.pt and checkpoint_best.pt are copies of the checkpoint just saved (which
    # itself is written atomically); a plain copy killed midway left a truncated checkpoint_last.pt
    # that the rerun would then fail to resume from.
    if file_io.PathManager.path_requires_pathmanager(dst_path):
        return _copy(src_path, dst_path, overwrite=overwrite)
    partial = f"{dst_path}.partial"
    result = _copy(src_path, partial, overwrite=True)
    os.replace(partial, dst_path)
    return result


file_io.PathManager.copy = staticmethod(_copy_then_rename)


_infer_torch_launch_init = distributed_utils._infer_torch_distributed_launch_init


def _infer_torch_launch_init_without_gpus(cfg):
    if torch.cuda.device_count():
        return _infer_torch_launch_init(cfg)
    # fairseq takes the device as rank % the number of GPUs: a division by zero under torchrun on CPU
    cfg.distributed_init_method = "env://"
    cfg.distributed_world_size = int(os.environ["WORLD_SIZE"])
    cfg.distributed_rank = int(os.environ["RANK"])
    cfg.device_id = 0
    cfg.distributed_no_spawn = True  # torchrun started the processes


distributed_utils._infer_torch_distributed_launch_init = _infer_torch_launch_init_without_gpus


class _InitializeFairseqConfig:
    """What fairseq's `hydra.experimental.initialize(config_path="../config")` meant, on hydra 1.3.

    fairseq builds its config from argparse settings (every fairseq-train/-generate run, and
    loading a checkpoint that keeps its settings in `args`) with hydra's experimental API, which
    raises ImportError once anything in the process has set hydra's version base to 1.2 or newer
    (any `hydra.initialize(version_base=None)`). This opens fairseq's config directory with the
    1.1 semantics fairseq was written for and restores the process' version base afterwards.
    """

    def __init__(self, config_path=None, **_):
        self.config_dir = os.path.abspath(os.path.join(os.path.dirname(dataclass_utils.__file__), config_path))

    def __enter__(self):
        self.version_base = hydra_version.VersionBase.instance().getbase()
        self.context = hydra.initialize_config_dir(config_dir=self.config_dir, version_base="1.1")
        return self.context.__enter__()

    def __exit__(self, *exc_info):
        self.context.__exit__(*exc_info)
        hydra_version.VersionBase.instance().version_base = self.version_base


dataclass_utils.initialize = _InitializeFairseqConfig
dataclass_utils.compose = hydra.compose
