"""The fairseq engine: fairseq's hub and BioGPT's sequence generator, the original's engine and the reference.

Generation is the task's `build_generator` (`BioGPTSequenceGenerator`) and `inference_step` over
fairseq's own batches, as fairseq-generate runs them; any fairseq generator option passes through
(sampling, `lenpen`, `no_repeat_ngram_size`, ...), and `allowed_text` constrains each token to the
source's and that text's (the original's ConstrainedGenerator).
"""
import warnings
from typing import List, Optional

import torch
from fairseq import utils
from omegaconf import open_dict

from biogpt_fairseq.engines.base import Checkpoint, Completion, Engine, build_model
from biogpt_fairseq.runtime import precision
from biogpt_fairseq.runtime.sequence_generator import AllowedTokens, BioGPTSequenceGenerator


class FairseqEngine(Engine):
    name = "fairseq"
    DTYPES_RUN = {"cpu": {"fp32": "fp32", "bf16": "bf16", "int8": "int8", "fp16": "fp32"},
                  "cuda": {"fp32": "fp32", "bf16": "bf16", "fp16": "fp16"}}

    def __init__(self, checkpoint: Checkpoint, dtype: str = "fp32", device: Optional[str] = None,
                 max_tokens: Optional[int] = None, batch_size: Optional[int] = None, threads: Optional[int] = None,
                 beam_ranking: str = "fairseq"):
        from fairseq.hub_utils import GeneratorHubInterface

        super().__init__(checkpoint, dtype, device, max_tokens, batch_size, beam_ranking)
        if threads:
            torch.set_num_threads(threads)
        cfg = checkpoint.state["cfg"]
        with open_dict(cfg):
            cfg.dataset.max_tokens, cfg.dataset.batch_size = self.max_tokens, self.batch_size
        if "decoding_dtype" in self.task.args:  # the prompt task casts the models again when it builds a generator
            with open_dict(self.task.args):
                self.task.args.decoding_dtype = self.dtype
        model = build_model(checkpoint)
        precision.cast([model], self.dtype)
        self.hub = GeneratorHubInterface(cfg, self.task, [model]).eval()
        self.hub.tokenizer, self.hub.bpe = self.tokenizer, self.bpe  # the task's hooks, which the hub does not call
        self.hub.to(self.device)

    @property
    def dtype(self) -> str:
        """The precision the model is in now (the task's --decoding-dtype casts it when it builds a generator)."""
        return precision.of(self.hub.models[0]) if hasattr(self, "hub") else self._dtype

    @dtype.setter
    def dtype(self, value: str) -> None:
        self._dtype = value

    def to(self, device) -> "FairseqEngine":
        self.hub.to(device)
        self.device = self.hub.device
        return self

    def generate(self, sources: List[torch.Tensor], beam: int = 1, max_len_a: float = 0, max_len_b: int = 1024,
                 max_new_tokens: Optional[int] = None, allowed_text: Optional[str] = None,
                 generator_class=BioGPTSequenceGenerator, **options) -> List[Completion]:
        if max_new_tokens is not None:
            max_len_a, max_len_b = 1, max_new_tokens
        hypotheses = self.search(sources, beam, allowed_text, generator_class, max_len_a=max_len_a,
                                 max_len_b=max_len_b, **options)
        completions = []
        for source, hypo in zip(sources, hypotheses):
            prefix, tokens = hypo["prefix"], hypo["tokens"]
            if prefix is None:  # a language model's output starts with its source (without eos)
                prefix, tokens = source[:-1], tokens[len(source) - 1:]
            if len(tokens) and tokens[-1] == self.dictionary.eos():
                tokens = tokens[:-1]
            completions.append(Completion(prefix.cpu(), tokens[:max_new_tokens].cpu(), float(hypo["score"])))
        return completions

    def search(self, tokens: List[torch.Tensor], beam: int, allowed_text: Optional[str] = None,
               generator_class=BioGPTSequenceGenerator, **options) -> List[dict]:
        """fairseq's best hypothesis of each source, in input order, from `generator_class` (BioGPT's
        sequence generator, or fairseq's for comparisons); with `allowed_text`, constrained to the
        source's tokens and that text's (the original's ConstrainedGenerator)."""
        if not tokens:
            return []
        gen_args = self.hub.cfg.generation.copy()
        with open_dict(gen_args):
            gen_args.beam = beam
            for key, value in options.items():
                setattr(gen_args, key, value)
        allowed = None
        if allowed_text is not None:
            allowed = AllowedTokens(self.hub.encode(allowed_text), self.dictionary.pad())
        generator = self.task.build_generator(self.hub.models, gen_args, seq_gen_cls=generator_class,
                                              prefix_allowed_tokens_fn=allowed)
        results = []
        with torch.no_grad(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*pin_memory.*")  # fairseq's loader asks for it; no GPU here
            for batch in self.hub._build_batches(tokens, skip_invalid_size_inputs=False):
                batch = utils.apply_to_sample(lambda t: t.to(self.device), batch)
                prefixes = batch.get("prefix_tokens")
                hypotheses = self.task.inference_step(generator, self.hub.models, batch)
                for row, (index, hypos) in enumerate(zip(batch["id"].tolist(), hypotheses)):
                    prefix = None
                    if prefixes is not None:
                        prefix = prefixes[row, 1:]
                        prefix = prefix[prefix.ne(self.dictionary.pad())]
                    results.append((index, {**hypos[0], "prefix": prefix}))
        return [hypo for _, hypo in sorted(results, key=lambda r: r[0])]
