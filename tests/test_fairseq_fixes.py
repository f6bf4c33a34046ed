"""fairseq bugs fixed by the plugin."""
import torch
from fairseq.ngram_repeat_block import NGramRepeatBlock

import biogpt_fairseq.models  # noqa: F401  (loading the plugin applies the fixes)


def test_no_repeat_ngram_bans_on_cpu_with_the_generator_token_buffer():
    # SequenceGenerator's buffer: 6 generated tokens (step 5), then padding (1).
    buffer = torch.tensor([[2, 5, 6, 7, 5, 6, 1, 1, 1, 1]])
    blocker = NGramRepeatBlock(3, use_extension=False)
    lprobs = blocker(buffer, torch.zeros(1, 10), bsz=1, beam_size=1, step=5)
    # "5 6" was followed by 7 before: 7 is banned, nothing else is.
    assert torch.isinf(lprobs[0, 7]) and torch.isfinite(lprobs[0, torch.arange(10) != 7]).all()
