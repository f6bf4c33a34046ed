"""The BioGPT architectures: published parameter counts, defaults without flags, every registered
architecture against Hugging Face's BioGPT, the prompt model's loading of a pre-trained checkpoint."""
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


def dictionary_of(size):
    """A fairseq dictionary of `size` types (its 4 specials included), made in memory."""
    dictionary = Dictionary()
    for i in range(size - len(dictionary)):
        dictionary.add_symbol(f"w{i}")
    return dictionary


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


@pytest.mark.fast
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


@pytest.mark.fast
def test_tiny_model_is_biogpt_shaped():
    model = build_on_meta("transformer_lm_biogpt_tiny", dictionary_of(1000))
    decoder = model.decoder
    assert len(decoder.layers) == 4 and decoder.embed_dim == 256
    assert decoder.output_projection.weight is decoder.embed_tokens.weight  # tied
    assert decoder.embed_scale == 16.0  # sqrt(256)
    assert decoder.layer_norm is not None and decoder.layers[0].normalize_before
    assert decoder.embed_positions.weight.shape[0] == 512 + 2  # learned, fairseq's padding offset


LAYERS_AND_WIDTH = {"biogpt": (24, 1024, 16, 4096, 1024), "biogpt_large": (48, 1600, 25, 6400, 2048),
                    "biogpt_tiny": (4, 256, 4, 1024, 512)}


@pytest.mark.fast
@pytest.mark.parametrize("model", ["transformer_lm", "transformer_lm_prompt"])
@pytest.mark.parametrize("shape", LAYERS_AND_WIDTH)
def test_every_architecture_is_hugging_faces_biogpt_of_its_size(model, shape):
    """Each registered architecture, as a language model and as a prompt model, has exactly the
    parameters of HF's BioGptForCausalLM of the same shape (any vocabulary: here 1,000 types)."""
    from fairseq.models import ARCH_MODEL_REGISTRY

    arch = f"{model}_{shape}"
    assert ARCH_MODEL_REGISTRY[arch].__name__ == {"transformer_lm": "TransformerLanguageModel",
                                                  "transformer_lm_prompt": "TransformerLanguageModelPrompt"}[model]
    layers, width, heads, ffn, positions = LAYERS_AND_WIDTH[shape]
    config = BioGptConfig(vocab_size=1000, hidden_size=width, num_hidden_layers=layers, num_attention_heads=heads,
                          intermediate_size=ffn, max_position_embeddings=positions)
    with torch.device("meta"):
        expected = n_params(BioGptForCausalLM(config))
        built, args = build_lm(arch, dictionary_of(1000))
    assert n_params(built) == expected
    assert (args.decoder_layers, args.decoder_embed_dim, args.decoder_attention_heads, args.decoder_ffn_embed_dim,
            args.max_target_positions) == LAYERS_AND_WIDTH[shape]


@pytest.mark.fast
def test_a_prompt_model_takes_a_pretrained_checkpoint_short_of_its_appended_rows_and_nothing_else():
    """The prompt task appends its tokens to the pre-training dictionary: a pre-trained checkpoint's rows
    are copied into the first rows, the appended ones keep their initialisation; any other count of rows
    (a checkpoint fine-tuned with another prompt) is refused."""
    arch, tiny = "transformer_lm_prompt_biogpt_tiny", dict(decoder_layers=1, decoder_embed_dim=16,
                                                          decoder_ffn_embed_dim=32, decoder_attention_heads=2)
    torch.manual_seed(0)
    pretrained = build_lm("transformer_lm_biogpt_tiny", dictionary_of(40), **tiny)[0].state_dict()
    prompt_model = build_lm(arch, dictionary_of(43), **tiny)[0]
    prompt_model.appended_rows = 3
    fresh = prompt_model.decoder.embed_tokens.weight.detach().clone()
    prompt_model.load_state_dict(dict(pretrained))
    loaded = prompt_model.decoder.embed_tokens.weight
    assert torch.equal(loaded[:40], pretrained["decoder.embed_tokens.weight"]) and torch.equal(loaded[40:], fresh[40:])
    assert torch.equal(prompt_model.decoder.layers[0].fc1.weight, pretrained["decoder.layers.0.fc1.weight"])
    other = build_lm("transformer_lm_biogpt_tiny", dictionary_of(41), **tiny)[0].state_dict()
    with pytest.raises(ValueError, match="41 rows; this task's dictionary has 43 types .40 of the data's"):
        prompt_model.load_state_dict(dict(other))
