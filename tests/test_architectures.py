"""The BioGPT architectures: published parameter counts, defaults without flags."""
import pytest
import torch
from conftest import build_lm
from fairseq import options
from fairseq.data import Dictionary
from transformers import BioGptConfig, BioGptForCausalLM

import biogpt_fairseq.plugin  # noqa: F401  (registers the plugin)


def build_on_meta(arch, dictionary, **overrides):
    with torch.device("meta"):
        return build_lm(arch, dictionary, **overrides)[0]


def n_params(model):
    return sum(p.numel() for p in model.parameters())


HF_LARGE = dict(vocab_size=57717, hidden_size=1600, num_hidden_layers=48, num_attention_heads=25,
                intermediate_size=6400, max_position_embeddings=2048)


@pytest.mark.parametrize("arch, dict_dir, hf_config", [
    ("transformer_lm_biogpt", "biogpt", {}),
    ("transformer_lm_biogpt_large", "biogpt-large", HF_LARGE),
])
def test_parameter_count_equals_published_model(data, arch, dict_dir, hf_config):
    dictionary = Dictionary.load(str(data / dict_dir / "dict.txt"))
    config = BioGptConfig(**hf_config)
    assert len(dictionary) == config.vocab_size
    with torch.device("meta"):
        expected = n_params(BioGptForCausalLM(config))
    assert n_params(build_on_meta(arch, dictionary)) == expected
    assert expected == {"biogpt": 346_763_264, "biogpt-large": 1_571_188_800}[dict_dir]


def parse_training_args(*flags):
    parser = options.get_training_parser(default_task="language_modeling")  # parsing mutates it: one per call
    return options.parse_args_and_arch(parser, ["/nonexistent-data", "--task", "language_modeling", *flags])


def test_biogpt_defaults_need_no_flags():
    args = parse_training_args("--arch", "transformer_lm_biogpt")
    assert (args.decoder_layers, args.decoder_embed_dim, args.decoder_attention_heads,
            args.decoder_ffn_embed_dim, args.max_target_positions) == (24, 1024, 16, 4096, 1024)
    assert args.decoder_learned_pos and args.share_decoder_input_output_embed
    assert args.decoder_normalize_before and not args.no_scale_embedding
    assert (args.activation_fn, args.dropout, args.attention_dropout) == ("gelu", 0.1, 0.1)
    # and an explicit flag still wins
    args = parse_training_args("--arch", "transformer_lm_biogpt", "--decoder-layers", "2")
    assert args.decoder_layers == 2


def test_tiny_model_is_biogpt_shaped(data):
    dictionary = Dictionary.load(str(data / "biogpt/dict.txt"))
    model = build_on_meta("transformer_lm_biogpt_tiny", dictionary)
    decoder = model.decoder
    assert len(decoder.layers) == 4 and decoder.embed_dim == 256
    assert decoder.output_projection.weight is decoder.embed_tokens.weight  # tied
    assert decoder.embed_scale == 16.0  # sqrt(256)
    assert decoder.layer_norm is not None and decoder.layers[0].normalize_before
    assert decoder.embed_positions.weight.shape[0] == 512 + 2  # learned, fairseq's padding offset
