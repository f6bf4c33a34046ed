"""`language_modeling_prompt`: fine-tune a language model on source -> target with a prompt.

The name, options and behaviour are the original BioGPT release's, so its
`train.sh` command lines and fine-tuned checkpoints work with `--user-dir
biogpt_fairseq`: the source and target languages are read off the data
directory, the prompt tokens (and, with `--prefix`, the `<seqsep>` separator)
are appended to the pre-training dictionary in the original's order, and the
dataset cuts and counts sequences as the original's does.

What a fine-tuned model needs at inference (the prompt, the separator, the
length limits, the dataset it was fine-tuned on) is saved in the checkpoint as
the task's state. `fairseq-generate`, `fairseq-interactive` and the API take
it from there: a command-line value that contradicts it is an error.
"""
import hashlib
import os
from argparse import Namespace
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import torch
from fairseq import utils
from fairseq.data import Dictionary, data_utils, encoders
from fairseq.data.encoders.moses_tokenizer import MosesTokenizer
from fairseq.dataclass import ChoiceEnum
from fairseq.tasks import register_task
from fairseq.tasks.language_modeling import LanguageModelingConfig, LanguageModelingTask

from biogpt_fairseq.data import manifest
from biogpt_fairseq.data.tokenize import english_moses
from biogpt_fairseq.runtime import precision
from biogpt_fairseq.runtime.sequence_generator import AllowedTokens, BioGPTSequenceGenerator
from biogpt_fairseq.tasks.prompt_dataset import PromptedPairDataset
from biogpt_fairseq.tasks.prompt_layout import OPTIONS as PROMPT_OPTIONS, PromptLayout

ORIGINAL_MAX_SOURCE_POSITIONS = 384  # the original task's default
BPE_CODES = "bpecodes"
LOSS_ON_CHOICES = ChoiceEnum(["whole", "target"])
DECODING_DTYPE_CHOICES = ChoiceEnum(list(precision.DTYPES))


@dataclass
class LanguageModelingPromptConfig(LanguageModelingConfig):
    source_lang: Optional[str] = field(
        default=None, metadata={"help": "source suffix of the binarized pair (default: read off the data directory)",
                                "argparse_alias": "-s"})
    target_lang: Optional[str] = field(
        default=None, metadata={"help": "target suffix of the binarized pair (default: read off the data directory)",
                                "argparse_alias": "-t"})
    max_source_positions: Optional[int] = field(
        default=None, metadata={"help": "cut sources to this many tokens, the last made '...' (default: the "
                                        f"checkpoint's at inference, else {ORIGINAL_MAX_SOURCE_POSITIONS})"})
    manual_prompt: Optional[str] = field(
        default=None, metadata={"help": "a hard prompt: space-separated tokens (BPE'd text); unknown ones are "
                                        "added to the dictionary"})
    learned_prompt: Optional[int] = field(
        default=None, metadata={"help": "number of virtual prompt tokens learned end to end (learned1..N)"})
    learned_prompt_pattern: Optional[str] = field(
        default=None, metadata={"help": "name stem of the learned prompt tokens (default: learned)"})
    prefix: Optional[bool] = field(
        default=None, metadata={"help": "put the prompt before the source, and the separator token between the "
                                        "source and the target"})
    sep_token: Optional[str] = field(default=None, metadata={"help": "the separator token of --prefix (default: <seqsep>)"})
    loss_on: LOSS_ON_CHOICES = field(
        default="whole", metadata={"help": "where the loss applies: 'whole' (source, prompt and target: the "
                                           "original's) or 'target' (the answer alone)"})
    allowed_text: Optional[str] = field(
        default=None, metadata={"help": "constrained decoding, as the original's ConstrainedGenerator: each "
                                        "generated token is one of the prompted source's or of this text's "
                                        "(BPE'd tokens; end of sentence always allowed)"})
    decoding_dtype: Optional[DECODING_DTYPE_CHOICES] = field(
        default=None, metadata={"help": "generate with the model's weights and activations in this dtype: bf16 "
                                        "reads half the bytes a token (faster greedy decoding of one sentence; on "
                                        "CPUs without bf16 instructions slower prompts and batches), int8 a "
                                        "quarter (int8 weights of the linear maps, fp32 activations): README's "
                                        "differences from the original; default: as loaded, fp32"})


# The options a checkpoint keeps (in its task state) and a command line may not contradict: the
# prompt layout's and the length limits.
SAVED_OPTIONS = (*PROMPT_OPTIONS, "max_source_positions", "max_target_positions")
# The task's state: those options, what the data's manifest names, and the dictionary's extension.
STATE_KEYS = (*SAVED_OPTIONS, *manifest.MODEL_KEYS, "appended_symbols")


def dictionary_file(directory: str, source_lang: Optional[str]) -> str:
    """The pre-training dictionary in `directory`: the dict.SRC.txt fairseq-preprocess writes, or
    the dict.txt of a released or converted model directory. Without `source_lang` (a checkpoint
    trained without --source-lang), SRC is read off the directory as the task reads it."""
    if source_lang is None:
        source_lang = data_utils.infer_language_pair(directory)[0]
    for name in ([f"dict.{source_lang}.txt"] if source_lang else []) + ["dict.txt"]:
        if os.path.exists(os.path.join(directory, name)):
            return os.path.join(directory, name)
    raise FileNotFoundError(f"{directory}: no dictionary ({f'dict.{source_lang}.txt or ' if source_lang else ''}dict.txt)")


class SettingConflict(ValueError):
    pass


@register_task("language_modeling_prompt", dataclass=LanguageModelingPromptConfig)
class LanguageModelingPromptTask(LanguageModelingTask):
    """Source + prompt + target language modelling; generation emits only the continuation."""

    def __init__(self, args, dictionary, output_dictionary=None, targets=None):
        super().__init__(args, dictionary, output_dictionary, targets)
        self.base_size = len(dictionary)  # the data's dictionary, before the prompt's symbols
        self.data_manifest = manifest.read_optional(Path(utils.split_paths(args.data)[0])) if args.data else None
        # the options as given (None: unset), and the dataset the data's manifest names (a dataset of the
        # user's own files with its definition, which rebuilds its spec at inference)
        self.settings = {**{key: getattr(args, key) for key in SAVED_OPTIONS},
                         **manifest.model_settings(self.data_manifest)}
        self.given = {key for key, value in self.settings.items() if value is not None}
        self._apply_settings()

    @classmethod
    def setup_task(cls, args, **kwargs):
        paths = utils.split_paths(args.data)
        if args.source_lang is None or args.target_lang is None:  # as the original: read off the data directory
            args.source_lang, args.target_lang = data_utils.infer_language_pair(paths[0])
        dictionary = Dictionary.load(dictionary_file(paths[0], args.source_lang))
        return cls(args, dictionary, dictionary, targets=["future"])

    # --- settings: the command line's, else the checkpoint's, else the original's defaults ------

    def _apply_settings(self):
        s = self.settings
        self.layout = PromptLayout.from_settings(s)
        # the stem and the separator are saved as used: the original's defaults where unset
        s["learned_prompt_pattern"], s["sep_token"] = self.layout.learned_prompt_pattern, self.layout.sep_token
        max_positions = s["max_target_positions"] or self.args.tokens_per_sample
        self.max_source_positions = s["max_source_positions"] or ORIGINAL_MAX_SOURCE_POSITIONS
        self.sequence_positions = max_positions
        symbols = self.layout.appended_symbols(known=lambda token: self._base_index(token) is not None)
        self._extend_dictionary(symbols)
        self.appended_symbols = symbols
        self.prompt = torch.LongTensor([self.dictionary.index(t) for t in self.layout.prompt_tokens])
        self.state.merge_state_dict({**{k: s[k] for k in STATE_KEYS if k in s}, "appended_symbols": symbols,
                                     "max_source_positions": self.max_source_positions,
                                     "max_target_positions": max_positions})

    def _base_index(self, token):
        index = self.dictionary.indices.get(token)
        return index if index is not None and index < self.base_size else None

    def _extend_dictionary(self, symbols):
        """The data's dictionary with exactly `symbols` appended (rebuilt in place: the task's
        dictionaries are one object, which models and generators built later share)."""
        d = self.dictionary
        for symbol in d.symbols[self.base_size:]:
            del d.indices[symbol]
        del d.symbols[self.base_size:], d.count[self.base_size:]
        for symbol in symbols:
            d.add_symbol(symbol)

    def load_state_dict(self, state_dict):
        """A checkpoint's settings, before its model is built: adopted where the command line gave
        none, an error where it gave another."""
        if not state_dict:  # a checkpoint of the original release, or of a language model
            return
        conflicts = [f"{key}: command line {self.settings[key]!r}, checkpoint {state_dict[key]!r}"
                     for key in self.given if key in state_dict and state_dict[key] != self.settings[key]]
        if conflicts:
            raise SettingConflict("the command line contradicts the checkpoint's settings (leave them out to use "
                                  "the checkpoint's): " + "; ".join(conflicts))
        for key in self.settings:
            if key in state_dict and key not in self.given:
                self.settings[key] = state_dict[key]
        self._apply_settings()
        if "appended_symbols" in state_dict and state_dict["appended_symbols"] != self.appended_symbols:
            raise SettingConflict(f"the checkpoint was trained with {state_dict['appended_symbols']} appended to the "
                                  f"dictionary, these settings append {self.appended_symbols}")

    def build_model(self, cfg, from_checkpoint=False):
        model = super().build_model(cfg, from_checkpoint)
        model.appended_rows = len(self.appended_symbols)  # rows a pre-trained checkpoint lacks (load_state_dict)
        return model

    # --- data ---------------------------------------------------------------------------------

    def _dataset(self, src, tgt, shuffle=True):
        return PromptedPairDataset(src, tgt, self.dictionary, self.prompt, self.max_source_positions,
                                   self.sequence_positions, layout=self.layout,
                                   loss_on_target_only=self.args.loss_on == "target", shuffle=shuffle)

    def load_dataset(self, split, epoch=1, combine=False, **kwargs):
        paths = utils.split_paths(self.args.data)
        data_path = paths[(epoch - 1) % len(paths)]
        src, tgt = self.args.source_lang, self.args.target_lang

        def load(lang):
            path = os.path.join(data_path, f"{split}.{src}-{tgt}.{lang}")
            dataset = data_utils.load_indexed_dataset(path, self.dictionary, self.args.dataset_impl)
            if dataset is None:
                raise FileNotFoundError(f"Dataset not found: {split} ({path}.{{bin,idx}})")
            return dataset

        src_dataset, tgt_dataset = load(src), load(tgt)
        if len(src_dataset) != len(tgt_dataset):
            raise ValueError(f"{split}: {len(src_dataset)} sources but {len(tgt_dataset)} targets")
        self.datasets[split] = self._dataset(src_dataset, tgt_dataset)

    def build_dataset_for_inference(self, src_tokens, src_lengths, **kwargs):
        """Sources (each ending with eos, as `encode` gives them): prompted prefixes to continue."""
        from fairseq.data import ListDataset

        return self._dataset(ListDataset(src_tokens, src_lengths), None, shuffle=False)

    # --- generation ---------------------------------------------------------------------------

    def build_generator(self, models, args, seq_gen_cls=None, extra_gen_cls_kwargs=None,
                        prefix_allowed_tokens_fn=None):
        if self.args.allowed_text and prefix_allowed_tokens_fn is None:
            allowed = self.dictionary.encode_line(self.args.allowed_text, add_if_not_exist=False).long()
            prefix_allowed_tokens_fn = AllowedTokens(allowed, self.dictionary.pad())
        if self.args.decoding_dtype is not None:
            precision.cast(models, self.args.decoding_dtype)
        return super().build_generator(models, args, seq_gen_cls=seq_gen_cls or BioGPTSequenceGenerator,
                                       extra_gen_cls_kwargs=extra_gen_cls_kwargs,
                                       prefix_allowed_tokens_fn=prefix_allowed_tokens_fn)

    def inference_step(self, generator, models, sample, prefix_tokens=None, constraints=None):
        with torch.no_grad():
            # Generation starts from eos; the rest of each prefix is forced, then stripped from the output.
            # (fairseq-interactive passes net_input alone: for inference datasets that input is the prefix.)
            prefixes = sample.get("prefix_tokens", sample["net_input"]["src_tokens"])[:, 1:]
            # What fairseq-generate prints as S- and T-: the prompted source and the bare target.
            sample["net_input"]["src_tokens"] = prefixes
            sample["target"] = sample.get("target_tokens")
            allowed = getattr(generator.search, "prefix_allowed_tokens_fn", None)
            if isinstance(allowed, AllowedTokens):
                allowed.start(sample["id"], prefixes)
            hypotheses = generator.generate(models, sample, prefix_tokens=prefixes, bos_token=self.dictionary.eos())
            lengths = prefixes.ne(self.dictionary.pad()).sum(dim=1).tolist()
            for hypos, length in zip(hypotheses, lengths):
                for hypo in hypos:
                    hypo["tokens"] = hypo["tokens"][length:]
                    hypo["positional_scores"] = hypo["positional_scores"][length:]
                    if hypo.get("alignment") is not None:
                        hypo["alignment"] = hypo["alignment"][length:]
            return hypotheses

    # --- text: the data directory's BPE codes and Moses, unless the command line names others ---

    def build_tokenizer(self, args):
        if getattr(args, "_name", None) or getattr(args, "tokenizer", None) or not self._bpe_codes():
            tokenizer = super().build_tokenizer(args)
        else:
            tokenizer = encoders.build_tokenizer(Namespace(tokenizer="moses", source_lang="en", target_lang="en",
                                                           moses_no_dash_splits=False, moses_no_escape=False))
        if type(tokenizer) is MosesTokenizer and tokenizer.cfg.source_lang == "en":
            return EnglishMosesTokenizer(tokenizer.cfg)
        return tokenizer

    def build_bpe(self, args):
        codes = self._bpe_codes()
        given = getattr(args, "bpe_codes", None) if (getattr(args, "_name", None) or getattr(args, "bpe", None)) else None
        if given and codes and _digest(given) != _digest(codes):
            raise SettingConflict(f"--bpe-codes {given} differs from the codes the data were made with ({codes})")
        if given or not codes:
            return super().build_bpe(args)
        return encoders.build_bpe(Namespace(bpe="fastbpe", bpe_codes=codes))

    def _bpe_codes(self) -> Optional[str]:
        path = os.path.join(utils.split_paths(self.args.data)[0], BPE_CODES)
        return path if os.path.exists(path) else None


class EnglishMosesTokenizer(MosesTokenizer):
    """fairseq's Moses tokenizer on `data.tokenize.english_moses`: sacremoses' English tokenizer as the
    original's perl runs it (a line's last word loses its period), so new text is tokenized as the
    data were (tests/test_tokenize.py); its character classes kept as sets, 3.5x faster on abstracts,
    which made up 40% of encoding an abstract for extraction (measured)."""

    def __init__(self, cfg):
        super().__init__(cfg)
        self.tok = english_moses()


def _digest(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
