"""`transformer_lm_prompt`: a fairseq language model that fine-tunes with learned prompt tokens.

Named as in the original BioGPT release, with its architectures
`transformer_lm_prompt_biogpt` and `transformer_lm_prompt_biogpt_large`.
"""
from fairseq.models import register_model, register_model_architecture
from fairseq.models.transformer_lm import TransformerLanguageModel, TransformerLanguageModelConfig

from biogpt_fairseq.models.transformer_lm_biogpt import (
    transformer_lm_biogpt, transformer_lm_biogpt_large, transformer_lm_biogpt_tiny,
)

VOCABULARY_MATRICES = ("decoder.embed_tokens.weight", "decoder.output_projection.weight")


@register_model("transformer_lm_prompt", dataclass=TransformerLanguageModelConfig)
class TransformerLanguageModelPrompt(TransformerLanguageModel):
    def load_state_dict(self, state_dict, strict=True, model_cfg=None, args=None):
        """Load a checkpoint whose vocabulary lacks the learned prompt tokens.

        The prompt tokens are appended to the pre-trained dictionary, so the
        checkpoint's embedding and output rows are the first rows of ours: they
        are copied, and the prompt rows keep their fresh initialisation.
        """
        own = self.decoder.embed_tokens.weight
        for key in VOCABULARY_MATRICES:
            loaded = state_dict.get(key)
            if loaded is not None and loaded.size(0) < own.size(0) and loaded.size(1) == own.size(1):
                extended = own.detach().clone().to(loaded.dtype)
                extended[: loaded.size(0)] = loaded
                state_dict[key] = extended
        return super().load_state_dict(state_dict, strict=strict, model_cfg=model_cfg, args=args)


@register_model_architecture("transformer_lm_prompt", "transformer_lm_prompt_biogpt")
def transformer_lm_prompt_biogpt(args):
    transformer_lm_biogpt(args)


@register_model_architecture("transformer_lm_prompt", "transformer_lm_prompt_biogpt_large")
def transformer_lm_prompt_biogpt_large(args):
    transformer_lm_biogpt_large(args)


@register_model_architecture("transformer_lm_prompt", "transformer_lm_prompt_biogpt_tiny")
def transformer_lm_prompt_biogpt_tiny(args):
    transformer_lm_biogpt_tiny(args)
