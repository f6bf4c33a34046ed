"""fairseq bugs fixed by the plugin."""
import numpy as np
import pytest
import torch
from fairseq.data import data_utils
from fairseq.ngram_repeat_block import NGramRepeatBlock

import biogpt_fairseq.models  # noqa: F401  (loading the plugin applies the fixes)


def test_no_repeat_ngram_bans_on_cpu_with_the_generator_token_buffer():
    # SequenceGenerator's buffer: 6 generated tokens (step 5), then padding (1).
    buffer = torch.tensor([[2, 5, 6, 7, 5, 6, 1, 1, 1, 1]])
    blocker = NGramRepeatBlock(3, use_extension=False)
    lprobs = blocker(buffer, torch.zeros(1, 10), bsz=1, beam_size=1, step=5)
    # "5 6" was followed by 7 before: 7 is banned, nothing else is.
    assert torch.isinf(lprobs[0, 7]) and torch.isfinite(lprobs[0, torch.arange(10) != 7]).all()


@pytest.mark.parametrize("n", [1, 7, 17, 48, 50])
@pytest.mark.parametrize("multiple", [1, 8])
def test_batch_by_size_keeps_every_index(n, multiple):
    indices = np.arange(n) * 3  # not 0..n-1: batches must carry the indices themselves
    batches = data_utils.batch_by_size(indices, lambda i: 400, max_sentences=16, required_batch_size_multiple=multiple)
    assert np.concatenate(batches).tolist() == indices.tolist()
    assert all(len(b) <= 16 for b in batches)
    with_max_tokens = data_utils.batch_by_size(indices, lambda i: 400, num_tokens_vec=np.full(n, 400), max_tokens=2000,
                                               required_batch_size_multiple=multiple)
    assert np.concatenate(with_max_tokens).tolist() == indices.tolist()
