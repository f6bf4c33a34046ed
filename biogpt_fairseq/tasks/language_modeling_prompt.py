"""`language_modeling_prompt`: fine-tune a language model on source -> target with a soft prompt.

The name and options are those of the original BioGPT release, so its
command lines and fine-tuned checkpoints work with `--user-dir biogpt_fairseq`.
"""
import os
from dataclasses import dataclass, field
from typing import Optional

import torch
from fairseq import utils
from fairseq.data import Dictionary, data_utils
from fairseq.tasks import register_task
from fairseq.tasks.language_modeling import LanguageModelingConfig, LanguageModelingTask

from biogpt_fairseq.tasks.prompt_dataset import PromptedPairDataset


@dataclass
class LanguageModelingPromptConfig(LanguageModelingConfig):
    source_lang: Optional[str] = field(default=None, metadata={"help": "source suffix of the binarized pair (x)"})
    target_lang: Optional[str] = field(default=None, metadata={"help": "target suffix of the binarized pair (y)"})
    max_source_positions: Optional[int] = field(
        default=640, metadata={"help": "truncate sources to this many tokens (the target is always kept whole)"}
    )
    learned_prompt: Optional[int] = field(
        default=None, metadata={"help": "number of virtual prompt tokens learned end to end (learned1..N)"}
    )
    learned_prompt_pattern: str = field(default="learned", metadata={"help": "name stem of the learned prompt tokens"})
    manual_prompt: Optional[str] = field(
        default=None, metadata={"help": "a hard prompt: space-separated tokens of the dictionary (BPE'd text)"}
    )
    prefix: bool = field(default=False, metadata={"help": "put the prompt before the source instead of after it"})
    loss_on: str = field(
        default="target",
        metadata={"help": "where the loss applies: 'target' (the answer) or 'whole' (source, prompt and target)"},
    )


def dictionary_file(directory: str, source_lang: Optional[str]) -> str:
    """The pre-training dictionary in `directory`: the dict.SRC.txt fairseq-preprocess writes, or
    the dict.txt of a released or converted model directory."""
    for name in ([f"dict.{source_lang}.txt"] if source_lang else []) + ["dict.txt"]:
        if os.path.exists(os.path.join(directory, name)):
            return os.path.join(directory, name)
    raise FileNotFoundError(f"{directory}: no dictionary ({f'dict.{source_lang}.txt or ' if source_lang else ''}dict.txt)")


@register_task("language_modeling_prompt", dataclass=LanguageModelingPromptConfig)
class LanguageModelingPromptTask(LanguageModelingTask):
    """Source + prompt + target language modelling; generation emits only the continuation."""

    def __init__(self, args, dictionary, output_dictionary=None, targets=None):
        super().__init__(args, dictionary, output_dictionary, targets)
        if args.loss_on not in ("target", "whole"):
            raise ValueError(f"--loss-on must be 'target' or 'whole', not {args.loss_on!r}")
        self.prompt = self.build_prompt(args, dictionary)

    @staticmethod
    def prompt_tokens(args):
        return [f"{args.learned_prompt_pattern}{i}" for i in range(1, (args.learned_prompt or 0) + 1)]

    @classmethod
    def setup_dictionary(cls, args, **kwargs):
        dictionary = Dictionary.load(dictionary_file(utils.split_paths(args.data)[0], args.source_lang))
        for token in cls.prompt_tokens(args):  # appended: every pre-trained index stays where it was
            dictionary.add_symbol(token)
        return dictionary, dictionary

    def build_prompt(self, args, dictionary) -> torch.Tensor:
        tokens = args.manual_prompt.split() if args.manual_prompt else self.prompt_tokens(args)
        unknown = [t for t in tokens if dictionary.index(t) == dictionary.unk()]
        if unknown:
            raise ValueError(f"prompt tokens not in the dictionary: {unknown} (--manual-prompt takes BPE'd tokens)")
        return torch.LongTensor([dictionary.index(t) for t in tokens])

    def load_dataset(self, split, epoch=1, combine=False, **kwargs):
        paths = utils.split_paths(self.args.data)
        data_path = paths[(epoch - 1) % len(paths)]
        src, tgt = self.args.source_lang, self.args.target_lang

        def load(lang):
            path = os.path.join(data_path, f"{split}.{src}-{tgt}.{lang}")
            dataset = data_utils.load_indexed_dataset(path, self.dictionary, self.args.dataset_impl)
            if dataset is None:
                raise FileNotFoundError(f"{split} split of {src}-{tgt} not found: {path}.{{bin,idx}}")
            return dataset

        src_dataset, tgt_dataset = load(src), load(tgt)
        if len(src_dataset) != len(tgt_dataset):
            raise ValueError(f"{split}: {len(src_dataset)} sources but {len(tgt_dataset)} targets")
        self.datasets[split] = PromptedPairDataset(
            src_dataset, tgt_dataset, self.dictionary, self.prompt,
            max_source_positions=self.args.max_source_positions,
            max_positions=self.args.tokens_per_sample,
            prefix=self.args.prefix, loss_on_target_only=self.args.loss_on == "target",
        )

    def build_dataset_for_inference(self, src_tokens, src_lengths, **kwargs):
        """Sources only (each ending with eos, as `encode` gives them): prompted prefixes to continue."""
        from fairseq.data import ListDataset

        sources = ListDataset(src_tokens, src_lengths)
        return PromptedPairDataset(sources, None, self.dictionary, self.prompt,
                                   max_source_positions=self.args.max_source_positions,
                                   max_positions=self.args.tokens_per_sample, prefix=self.args.prefix, shuffle=False)

    def inference_step(self, generator, models, sample, prefix_tokens=None, constraints=None):
        with torch.no_grad():
            # Generation starts from eos; the rest of each prefix is forced, then stripped from the output.
            # (fairseq-interactive passes net_input alone: for inference datasets that input is the prefix.)
            prefixes = sample.get("prefix_tokens", sample["net_input"]["src_tokens"])[:, 1:]
            # What fairseq-generate prints as S- and T-: the prompted source and the bare target.
            # (The source length also sets the length budget: --max-len-a 1 --max-len-b N allows N new tokens.)
            sample["net_input"]["src_tokens"] = prefixes
            sample["target"] = sample.get("target_tokens")
            hypotheses = generator.generate(models, sample, prefix_tokens=prefixes, bos_token=self.dictionary.eos())
            lengths = prefixes.ne(self.dictionary.pad()).sum(dim=1).tolist()
            for hypos, length in zip(hypotheses, lengths):
                for hypo in hypos:
                    hypo["tokens"] = hypo["tokens"][length:]
                    hypo["positional_scores"] = hypo["positional_scores"][length:]
                    if hypo.get("alignment") is not None:
                        hypo["alignment"] = hypo["alignment"][length:]
            return hypotheses

    def max_positions(self):
        return self.args.tokens_per_sample
