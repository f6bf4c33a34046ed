"""What the plugin changes in fairseq: its own classes through extension points, and one table of patches."""
import subprocess
import sys

import numpy as np
import pytest
import torch
from fairseq import checkpoint_utils, sequence_generator
from fairseq.data import Dictionary, ListDataset
from fairseq.ngram_repeat_block import NGramRepeatBlock

import biogpt_fairseq.plugin  # noqa: F401  (registers the plugin)
from biogpt_fairseq.runtime import fairseq_patches
from biogpt_fairseq.runtime.sequence_generator import PrefixAwareNGramBlock
from biogpt_fairseq.tasks.prompt_dataset import PromptedPairDataset


@pytest.mark.fast
def test_the_patch_table_is_applied_once_and_nothing_else_is_replaced():
    assert fairseq_patches.apply() is True  # already applied when the plugin loaded: a no-op
    assert len(fairseq_patches._applied) == len(fairseq_patches.PATCHES)
    for target, attribute, replacement in fairseq_patches.PATCHES:
        assert target.__dict__[attribute] is replacement
    # decoding goes through the task's generator class: fairseq's own are untouched
    assert sequence_generator.EnsembleModel.__module__ == "fairseq.sequence_generator"
    assert sequence_generator.SequenceGenerator._generate.__module__ == "fairseq.sequence_generator"
    assert NGramRepeatBlock._no_repeat_ngram.__module__ == "fairseq.ngram_repeat_block"


def test_the_environment_switch_turns_the_patches_off():
    probe = ("import biogpt_fairseq.plugin, torch; from fairseq import checkpoint_utils; "
             "print(checkpoint_utils.torch is torch)")
    for switch, plain in [("0", "True"), ("1", "False")]:
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                             env={**__import__("os").environ, fairseq_patches.SWITCH: switch}).stdout.split()[-1]
        assert out == plain, switch
    assert checkpoint_utils.torch is not torch  # this process: the plugin's safe loading


@pytest.mark.fast
def test_the_package_itself_imports_nothing_heavy():
    probe = "import sys, biogpt_fairseq, biogpt_fairseq.cli; print('fairseq' in sys.modules, 'torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True).stdout.split() == ["False", "False"]


@pytest.mark.fast
def test_no_repeat_ngram_bans_on_cpu_with_the_generator_token_buffer():
    # SequenceGenerator's buffer: 6 generated tokens (step 5), then padding (1).
    buffer = torch.tensor([[2, 5, 6, 7, 5, 6, 1, 1, 1, 1]])
    lprobs = PrefixAwareNGramBlock(3, use_extension=False)(buffer, torch.zeros(1, 10), bsz=1, beam_size=1, step=5)
    # "5 6" was followed by 7 before: 7 is banned, nothing else is.
    assert torch.isinf(lprobs[0, 7]) and torch.isfinite(lprobs[0, torch.arange(10) != 7]).all()
    # fairseq's own block, as released, compares with the buffer's padding and bans nothing
    stock = NGramRepeatBlock(3, use_extension=False)(buffer, torch.zeros(1, 10), bsz=1, beam_size=1, step=5)
    assert torch.isfinite(stock).all()


@pytest.mark.fast
@pytest.mark.parametrize("n", [1, 7, 17, 48, 50])
@pytest.mark.parametrize("multiple", [1, 8])
def test_prompt_dataset_batches_keep_every_index(n, multiple):
    d = Dictionary()
    d.add_symbol("a")
    examples = ListDataset([torch.LongTensor([d.index("a")] * 5 + [d.eos()])] * n, np.full(n, 6))
    dataset = PromptedPairDataset(examples, examples, d, torch.LongTensor([]), 100, 400)
    indices = np.arange(n)[::-1].copy()  # in any order: batches must carry the indices themselves
    batches = dataset.batch_by_size(indices, max_sentences=16, required_batch_size_multiple=multiple)
    assert np.concatenate(batches).tolist() == indices.tolist() and all(len(b) <= 16 for b in batches)
    batches = dataset.batch_by_size(indices, max_tokens=40, required_batch_size_multiple=multiple)
    assert np.concatenate(batches).tolist() == indices.tolist()


@pytest.mark.fast
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
    prefix = lm.engine.hub.encode("the patients were treated and the patients were followed for")
    repeated = prefix.tolist()[:-1]
    assert any(repeated[i:i + 2] == repeated[j:j + 2] for i in range(len(repeated)) for j in range(i))
    for beam in (1, 3):
        hypo = lm.engine.search([prefix], beam, no_repeat_ngram_size=2, max_len_a=1, max_len_b=12)[0]
        tokens = hypo["tokens"].tolist()
        assert tokens[:len(repeated)] == repeated and torch.isfinite(hypo["positional_scores"]).all()
        generated = tokens[len(repeated) - 1:]  # the bigrams that end in a generated token
        bigrams = [tuple(tokens[i:i + 2]) for i in range(len(tokens) - 1)]
        new = [tuple(generated[i:i + 2]) for i in range(len(generated) - 1)]
        assert all(bigrams.count(b) == 1 for b in new), tokens
