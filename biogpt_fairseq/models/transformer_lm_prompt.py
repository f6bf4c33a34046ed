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
    appended_rows = 0  # symbols the task appended to the data's dictionary (set by the task)

    def load_state_dict(self, state_dict, strict=True, model_cfg=None, args=None):
        """Load a checkpoint with exactly this vocabulary, or a pre-trained one that lacks the prompt.

        The task appends the prompt tokens (and the separator) to the pre-training dictionary,
        so a pre-trained checkpoint's embedding and output rows are the first rows of ours: they
        are copied, and the appended rows keep their fresh initialisation. Any other difference
        in rows is an error: a model fine-tuned with another prompt.
        """
        own = self.decoder.embed_tokens.weight
        for key in VOCABULARY_MATRICES:
            loaded = state_dict.get(key)
            if loaded is None or loaded.size(0) == own.size(0):
                continue
            if loaded.size(0) != own.size(0) - self.appended_rows or loaded.size(1) != own.size(1):
                raise ValueError(
                    f"the checkpoint's {key} has {loaded.size(0)} rows; this task's dictionary has {own.size(0)} "
                    f"types ({own.size(0) - self.appended_rows} of the data's dictionary and {self.appended_rows} "
                    "prompt and separator tokens): a checkpoint fine-tuned with another prompt "
                    "(--learned-prompt, --manual-prompt, --prefix) or another dictionary")
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
