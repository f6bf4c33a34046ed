"""Fixes to fairseq 0.12 bugs that BioGPT users hit, applied when the plugin loads.

Each fix is the smallest change at the place of the bug, and is tested in
tests/test_fairseq_fixes.py against the behaviour it repairs.
"""
import types

import numpy as np
import torch
from fairseq import checkpoint_utils
from fairseq.data import data_utils
from fairseq.ngram_repeat_block import NGramRepeatBlock

from biogpt_fairseq import safe_checkpoint

_no_repeat_ngram_on_buffer = NGramRepeatBlock._no_repeat_ngram


def _no_repeat_ngram_on_generated_prefix(self, tokens, lprobs, bsz: int, beam_size: int, step: int):
    # SequenceGenerator passes its whole preallocated token buffer; the CPU
    # path compares against the buffer's last n-1 entries, which are padding,
    # so --no-repeat-ngram-size never banned anything on CPU. (The CUDA kernel
    # indexes by `step` and is unaffected.)
    return _no_repeat_ngram_on_buffer(self, tokens[:, : step + 1], lprobs, bsz, beam_size, step)


NGramRepeatBlock._no_repeat_ngram = _no_repeat_ngram_on_generated_prefix


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
    """torch as fairseq's checkpoint_utils sees it: its `torch.load` calls (which name no
    weights_only) go through the allow-listed loader, so every checkpoint fairseq opens
    (fairseq-train's restore and --finetune-from-model, fairseq-generate --path, the hub)
    is loaded as an untrusted file."""

    def __getattr__(self, name):
        return getattr(torch, name)

    @staticmethod
    def load(f, map_location=None, **_):
        return safe_checkpoint.load(f, map_location=map_location or "cpu")


checkpoint_utils.torch = _TorchLoadingSafely("torch")
