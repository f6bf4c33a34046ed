"""Fixes to fairseq 0.12 bugs that BioGPT users hit, applied when the plugin loads.

Each fix is the smallest change at the place of the bug, and is tested in
tests/test_fairseq_fixes.py against the behaviour it repairs.
"""
from fairseq.ngram_repeat_block import NGramRepeatBlock

_no_repeat_ngram_on_buffer = NGramRepeatBlock._no_repeat_ngram


def _no_repeat_ngram_on_generated_prefix(self, tokens, lprobs, bsz: int, beam_size: int, step: int):
    # SequenceGenerator passes its whole preallocated token buffer; the CPU
    # path compares against the buffer's last n-1 entries, which are padding,
    # so --no-repeat-ngram-size never banned anything on CPU. (The CUDA kernel
    # indexes by `step` and is unaffected.)
    return _no_repeat_ngram_on_buffer(self, tokens[:, : step + 1], lprobs, bsz, beam_size, step)


NGramRepeatBlock._no_repeat_ngram = _no_repeat_ngram_on_generated_prefix
