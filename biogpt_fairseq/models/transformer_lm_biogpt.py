"""BioGPT architectures on fairseq's `transformer_lm` model.

BioGPT (Luo et al. 2022) is GPT-2 shaped: pre-LayerNorm, GELU, learned
positions, embeddings scaled by sqrt(width) and tied input/output embeddings.
These are defaults here, so `--arch transformer_lm_biogpt` alone gives the
published model; any `--decoder-*` flag still overrides.
"""
from fairseq.models import register_model_architecture
from fairseq.models.transformer_lm import base_lm_architecture
from fairseq.utils import safe_getattr


def _biogpt_shape(args, layers, width, heads, ffn, positions):
    args.decoder_layers = safe_getattr(args, "decoder_layers", layers)
    args.decoder_embed_dim = safe_getattr(args, "decoder_embed_dim", width)
    args.decoder_attention_heads = safe_getattr(args, "decoder_attention_heads", heads)
    args.decoder_ffn_embed_dim = safe_getattr(args, "decoder_ffn_embed_dim", ffn)
    # The language_modeling task declares --max-target-positions with default
    # None, so a plain getattr default would never apply.
    if safe_getattr(args, "max_target_positions", None) is None:
        args.max_target_positions = positions
    args.decoder_learned_pos = safe_getattr(args, "decoder_learned_pos", True)
    args.decoder_normalize_before = safe_getattr(args, "decoder_normalize_before", True)
    args.share_decoder_input_output_embed = safe_getattr(
        args, "share_decoder_input_output_embed", True
    )
    args.no_scale_embedding = safe_getattr(args, "no_scale_embedding", False)
    args.activation_fn = safe_getattr(args, "activation_fn", "gelu")
    args.dropout = safe_getattr(args, "dropout", 0.1)
    args.attention_dropout = safe_getattr(args, "attention_dropout", 0.1)
    base_lm_architecture(args)


@register_model_architecture("transformer_lm", "transformer_lm_biogpt")
def transformer_lm_biogpt(args):
    """BioGPT, 347M parameters with the released 42,384-type dictionary."""
    _biogpt_shape(args, layers=24, width=1024, heads=16, ffn=4096, positions=1024)


@register_model_architecture("transformer_lm", "transformer_lm_biogpt_large")
def transformer_lm_biogpt_large(args):
    """BioGPT-Large, 1.5B parameters with the released 57,717-type dictionary."""
    _biogpt_shape(args, layers=48, width=1600, heads=25, ffn=6400, positions=2048)


@register_model_architecture("transformer_lm", "transformer_lm_biogpt_tiny")
def transformer_lm_biogpt_tiny(args):
    """A BioGPT-shaped model small enough to pre-train on a laptop CPU (demo, tests)."""
    _biogpt_shape(args, layers=4, width=256, heads=4, ffn=1024, positions=512)
