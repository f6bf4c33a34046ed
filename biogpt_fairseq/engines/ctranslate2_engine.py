"""The CTranslate2 engine: CTranslate2's `Generator` on a conversion of the fairseq checkpoint.

CTranslate2's own fairseq converter refuses `transformer_lm_prompt` checkpoints and it has no loader
for Hugging Face's BioGpt, so the model is built through its spec API: a pre-LayerNorm decoder with
GELU, learned positions (offset by padding_idx + 1, as fairseq's) and scaled, tied embeddings, the
fairseq decoder's tensors set by CTranslate2's own fairseq helpers. The vocabulary is the task's
dictionary (prompt tokens and `<seqsep>` included, as ordinary entries).

Greedy decoding is fairseq's: the prompted prefix forced, padding never generated, the same length
limit. Beam search asks CTranslate2 for its `beam` hypotheses, which the interface ranks as fairseq
does, scored by CTranslate2 itself (`score_batch`).
"""
from pathlib import Path
from typing import Dict, List, Optional

import torch

from biogpt_fairseq.engines.base import Checkpoint, Engine, build_model, converted_dir, converting

COMPUTE_TYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16", "int8": "int8_float32"}
PAD = "<blank>"  # CTranslate2's name for the padding entry (fairseq's <pad>)


def convert(checkpoint: Checkpoint, out: Path, dtype: str = "fp32") -> Path:
    """Write CTranslate2's model directory for a fairseq BioGPT checkpoint, its weights stored in `dtype`."""
    from ctranslate2.converters import Converter
    from ctranslate2.converters.fairseq import set_transformer_decoder
    from ctranslate2.specs import common_spec, transformer_spec

    from biogpt_fairseq.models.hf_conversion import check_biogpt_shape

    model = build_model(checkpoint).float()
    cfg = checkpoint.state["cfg"].model
    check_biogpt_shape(cfg)
    spec = transformer_spec.TransformerDecoderModelSpec.from_config(
        cfg.decoder_layers, cfg.decoder_attention_heads, pre_norm=True, activation=common_spec.Activation.GELU)
    with torch.no_grad():
        set_transformer_decoder(spec.decoder, model.decoder, with_encoder_attention=False)
    spec.register_vocabulary([PAD if s == "<pad>" else s for s in checkpoint.task.target_dictionary.symbols])
    spec.config.bos_token = spec.config.eos_token  # fairseq's language models start from eos

    class SpecConverter(Converter):
        def _load(self):
            return spec

    with converting(out) as partial:
        SpecConverter().convert(str(partial), quantization=COMPUTE_TYPES[dtype], force=True)
    return out


class CTranslate2Engine(Engine):
    name = "ctranslate2"

    def __init__(self, checkpoint: Checkpoint, dtype: str = "fp32", device: Optional[str] = None,
                 max_tokens: Optional[int] = None, batch_size: Optional[int] = None, threads: Optional[int] = None,
                 beam_ranking: str = "fairseq"):
        import ctranslate2

        super().__init__(checkpoint, dtype, device, max_tokens, batch_size, beam_ranking)
        self.model_dir = converted_dir(checkpoint, self.name, self.dtype)
        if not self.model_dir.is_dir():
            convert(checkpoint, self.model_dir, self.dtype)
        self.generator = ctranslate2.Generator(
            str(self.model_dir), device=self.device.type, compute_type=COMPUTE_TYPES[self.dtype],
            inter_threads=1, intra_threads=threads or torch.get_num_threads())
        self.symbols = [PAD if s == "<pad>" else s for s in self.dictionary.symbols]
        self.ids = {s: i for i, s in enumerate(self.symbols)}

    @classmethod
    def precisions(cls, device_type: str) -> Dict[str, str]:
        import ctranslate2

        supported = ctranslate2.get_supported_compute_types(device_type)
        return {d: d if COMPUTE_TYPES[d] in supported else "fp32" for d in COMPUTE_TYPES}

    def _hypotheses(self, prefixes: List[List[int]], beam: int, new_tokens: int) -> List[List[tuple]]:
        results = self.generator.generate_batch(
            [[self.symbols[i] for i in p] for p in prefixes], max_length=new_tokens, beam_size=beam,
            num_hypotheses=beam, include_prompt_in_result=False, return_scores=True, return_end_token=True,
            suppress_sequences=[[PAD]], end_token=self.symbols[self.dictionary.eos()])
        return [[([self.ids[t] for t in tokens], score) for tokens, score in zip(r.sequences, r.scores)]
                for r in results]

    def _log_probs(self, sequences: List[List[int]]) -> List[List[float]]:
        scored = self.generator.score_batch([[self.symbols[i] for i in s] for s in sequences])
        return [s.log_probs for s in scored]
