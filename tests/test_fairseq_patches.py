"""fairseq bugs fixed by the plugin."""
import numpy as np
import pytest
import torch
from fairseq.data import data_utils
from fairseq.ngram_repeat_block import NGramRepeatBlock

import biogpt_fairseq.plugin  # noqa: F401  (registers the plugin)


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


def test_fairseq_builds_configs_after_hydra_was_set_to_a_newer_version_base(tmp_path):
    """Checkpoints with argparse `args` (and every CLI run) go through fairseq's hydra.experimental
    calls, which fail once a program has used hydra with version_base=None or >= 1.2."""
    import hydra
    from fairseq import options
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf

    with hydra.initialize_config_dir(config_dir=str(tmp_path), version_base=None):
        pass
    before = hydra.version.getbase()
    parser = options.get_training_parser(default_task="language_modeling")
    args = options.parse_args_and_arch(parser, ["/data", "--task", "language_modeling", "--arch", "transformer_lm_biogpt"])
    cfg = convert_namespace_to_omegaconf(args)
    assert (cfg.model._name, cfg.model.decoder_layers, cfg.task._name) == ("transformer_lm_biogpt", 24,
                                                                          "language_modeling")
    assert hydra.version.getbase() == before  # the program's own setting is left as it was


def test_no_repeat_ngram_leaves_a_forced_prefix_alone(tiny_pretrained, tiny_corpus):
    # The prefix repeats the bigram "the patients"; banning the forced repeat killed every beam and
    # fairseq's search ended in an AssertionError.
    from biogpt_fairseq import BioGPT

    lm = BioGPT.from_pretrained(tiny_pretrained, data=tiny_corpus)
    prefix = lm.hub.encode("the patients were treated and the patients were followed for")
    repeated = prefix.tolist()[:-1]
    assert any(repeated[i:i + 2] == repeated[j:j + 2] for i in range(len(repeated)) for j in range(i))
    for beam in (1, 3):
        hypo = lm.hub.generate([prefix], beam=beam, no_repeat_ngram_size=2, max_len_a=1, max_len_b=12)[0][0]
        tokens = hypo["tokens"].tolist()
        assert tokens[:len(repeated)] == repeated and torch.isfinite(hypo["positional_scores"]).all()
        generated = tokens[len(repeated) - 1:]  # the bigrams that end in a generated token
        bigrams = [tuple(tokens[i:i + 2]) for i in range(len(tokens) - 1)]
        new = [tuple(generated[i:i + 2]) for i in range(len(generated) - 1)]
        assert all(bigrams.count(b) == 1 for b in new), tokens
