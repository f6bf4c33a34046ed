"""A small Python API over fairseq's generator: `from biogpt_fairseq import BioGPT`.

    model = BioGPT.from_pretrained("checkpoints/RE-BC5CDR-BioGPT")   # or a Hugging Face directory
    model.extract_relations(["Naloxone reverses the antihypertensive effect of clonidine. ..."], task="bc5cdr")
    model.answer("Do statins reduce mortality?", "We studied ...")    # a PubMedQA fine-tuned model
    model.classify("The tumour cells evaded apoptosis ...")            # a HoC fine-tuned model
    model.generate(["COVID-19 is"], beam=5, max_len=40)                # any model

Generation is fairseq's (incremental decoding, beam search or sampling),
batched, with outputs in input order. The task methods reuse the specs and
decoders of `biogpt_fairseq.downstream`: the model must have been fine-tuned
on that task's target sentences.
"""
import tempfile
import warnings
from pathlib import Path
from typing import List, NamedTuple, Optional, Sequence, Union

import torch

import biogpt_fairseq.models  # noqa: F401  (registers the plugin and applies fairseq_fixes)
from biogpt_fairseq.downstream import get_task
from biogpt_fairseq.downstream.base import Context
from biogpt_fairseq.downstream.pubmedqa import PubMedQA
from biogpt_fairseq.textio import UserError

CHECKPOINT_NAMES = ("checkpoint.pt", "checkpoint_best.pt", "checkpoint_avg.pt", "checkpoint_last.pt")
ON_OVERFLOW = ("truncate", "error")


class Triple(NamedTuple):
    head: str
    relation: str
    tail: str


class InputTooLongError(UserError):
    """An input has more tokens than the model's positions leave room for (with on_overflow='error')."""


def _checkpoint_in(path: Path, checkpoint_file: Optional[str]) -> Path:
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or directory")
    if path.is_file():
        return path
    if checkpoint_file:
        if not (path / checkpoint_file).is_file():
            raise FileNotFoundError(f"{path / checkpoint_file}: no such checkpoint")
        return path / checkpoint_file
    for name in CHECKPOINT_NAMES:
        if (path / name).is_file():
            return path / name
    raise FileNotFoundError(f"{path}: no checkpoint (looked for {', '.join(CHECKPOINT_NAMES)}) and no "
                            "Hugging Face config.json")


class BioGPT:
    """A loaded BioGPT (pre-trained or fine-tuned with a prompt) and its tokenizer."""

    def __init__(self, hub, on_overflow: str = "truncate", _keep=None):
        if on_overflow not in ON_OVERFLOW:
            raise ValueError(f"on_overflow must be one of {ON_OVERFLOW}, not {on_overflow!r}")
        self.hub = hub.eval()
        self.on_overflow = on_overflow
        self.is_prompt_model = hub.cfg.task._name == "language_modeling_prompt"
        self._keep = _keep  # a converted Hugging Face model's temporary directory lives as long as we do

    @classmethod
    def from_pretrained(cls, path, checkpoint_file: Optional[str] = None, data: Optional[str] = None,
                        bpe_codes: Optional[str] = None, batch_size: int = 16,
                        on_overflow: str = "truncate") -> "BioGPT":
        """Load a fairseq checkpoint (a .pt file or a directory holding one) or a Hugging Face directory.

        `data` is the directory with the model's dict.txt and `bpe_codes` its fastBPE codes; both
        default to the checkpoint's directory. `on_overflow` says what an input longer than the
        model's positions gets: 'truncate' (with a warning) or 'error'.
        """
        from fairseq import checkpoint_utils, tasks
        from fairseq.hub_utils import GeneratorHubInterface

        path = Path(path)
        keep = None
        if path.is_dir() and (path / "config.json").is_file():  # Hugging Face: convert once, then as fairseq
            from biogpt_fairseq.tools.convert import from_hf

            keep = tempfile.TemporaryDirectory(prefix="biogpt-from-hf-")
            path = from_hf(path, Path(keep.name))
        checkpoint = _checkpoint_in(path, checkpoint_file)
        data_dir = Path(data) if data else checkpoint.parent
        codes = Path(bpe_codes) if bpe_codes else data_dir / "bpecodes"
        if not codes.is_file():
            raise FileNotFoundError(f"{codes}: no such file (the model's BPE codes; pass bpe_codes=)")
        state = checkpoint_utils.load_checkpoint_to_cpu(str(checkpoint), arg_overrides={
            "data": str(data_dir), "tokenizer": "moses", "bpe": "fastbpe", "bpe_codes": str(codes)})
        cfg = state["cfg"]
        cfg.dataset.batch_size, cfg.dataset.max_tokens = batch_size, None
        try:
            task = tasks.setup_task(cfg.task)
        except FileNotFoundError as err:  # the dictionary
            raise FileNotFoundError(f"{err} (the model's dictionary; pass data=)") from None
        rows = state["model"]["decoder.embed_tokens.weight"].size(0)
        if rows != len(task.target_dictionary):
            raise UserError(f"the dictionary in {data_dir} gives a vocabulary of {len(task.target_dictionary)} "
                            f"types but {checkpoint} was trained with {rows}: not this model's dictionary")
        model = task.build_model(cfg.model, from_checkpoint=True)  # (drops settings of older releases)
        model.load_state_dict(state["model"], strict=True, model_cfg=cfg.model)
        return cls(GeneratorHubInterface(cfg, task, [model]), on_overflow=on_overflow, _keep=keep)

    def to(self, device) -> "BioGPT":
        self.hub.to(device)
        return self

    @property
    def device(self) -> torch.device:
        return self.hub.device

    # --- generation ---------------------------------------------------------------------------

    def _fit(self, tokens: List[torch.Tensor], max_len: int) -> List[torch.Tensor]:
        """Each input (ending with eos) cut to the room the model's positions leave; one warning, or refuse."""
        room = self.hub.max_positions - 1 - max_len  # positions minus the leading eos and the new tokens
        if self.is_prompt_model:
            room = min(room - len(self.hub.task.prompt), self.hub.cfg.task.max_source_positions)
        if room < 1:
            raise UserError(f"max_len={max_len} leaves no room for the input in {self.hub.max_positions} positions")
        too_long = [i for i, t in enumerate(tokens) if len(t) - 1 > room]
        if not too_long:
            return tokens
        first = too_long[0]
        message = (f"{len(too_long)} input(s) longer than the {room} tokens the model's positions leave with "
                   f"max_len={max_len} (input {first}: {len(tokens[first]) - 1} tokens"
                   f"{', ...' if len(too_long) > 1 else ''})")
        if self.on_overflow == "error":
            raise InputTooLongError(message)
        # A prompt model reads the beginning of a document (as in fine-tuning); a language model
        # continues the end of its text.
        warnings.warn(f"{message}: the {'first' if self.is_prompt_model else 'last'} {room} tokens of each are used",
                      stacklevel=3)
        cut = (lambda t: t[:room]) if self.is_prompt_model else (lambda t: t[len(t) - 1 - room:-1])
        return [torch.cat([cut(t), t[-1:]]) if len(t) - 1 > room else t for t in tokens]

    def generate(self, texts: Union[str, Sequence[str]], beam: int = 5, max_len: int = 64, sampling: bool = False,
                 **options) -> Union[str, List[str]]:
        """The continuation of each text: at most `max_len` new tokens, detokenized.

        Beam search by default; `sampling=True` samples (with fairseq's `sampling_topk`,
        `sampling_topp`, `temperature`). Other fairseq generation options pass through
        (e.g. `no_repeat_ngram_size=3`, `lenpen`, `min_len`). A single string gives a string.
        """
        if isinstance(texts, str):
            return self.generate([texts], beam=beam, max_len=max_len, sampling=sampling, **options)[0]
        if not texts:
            return []
        for i, text in enumerate(texts):
            if "\0" in text:  # fastBPE (C++) would silently cut the word at it
                raise UserError(f"input {i} contains a NUL character")
        # one line of text, as in training (newlines, U+2028, tabs are spaces)
        tokens = self._fit([self.hub.encode(" ".join(t.split())) for t in texts], max_len)
        with torch.no_grad(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*pin_memory.*")  # fairseq's loader asks for it; no GPU here
            results = self.hub.generate(tokens, beam=beam, sampling=sampling, max_len_a=1, max_len_b=max_len,
                                        **options)
        continuations = []
        for source, hypos in zip(tokens, results):
            generated = hypos[0]["tokens"]
            if not self.is_prompt_model:  # a language model's output starts with its input (without eos)
                generated = generated[len(source) - 1:]
            continuations.append(self.hub.decode(generated[:max_len]))
        return continuations

    # --- downstream tasks ---------------------------------------------------------------------

    def _decode(self, spec, sources: List[str], beam: int, max_len: int) -> list:
        sentences = self.generate(sources, beam=beam, max_len=max_len)
        return [spec.decode(sentence, Context(source=source))[1] for source, sentence in zip(sources, sentences)]

    def extract_relations(self, abstracts: Sequence[str], task: str = "bc5cdr", beam: int = 5,
                          max_len: int = 256) -> List[List[Triple]]:
        """(head, relation, tail) triples for each abstract: chemical-induced disease ('CID') for
        bc5cdr, drug-drug interactions for ddi, drug-target interactions for kd-dti."""
        spec = get_task(task)
        if spec.output_key != "triples":
            raise UserError(f"{task} is not a relation extraction task (bc5cdr, ddi, kd-dti)")
        decoded = self._decode(spec, [spec.source_text(a) for a in abstracts], beam, max_len)
        return [[Triple(*t) for t in triples] for triples in decoded]

    def answer(self, question: Union[str, Sequence[str]], context: Union[str, Sequence[str]], beam: int = 5,
               max_len: int = 32) -> Union[Optional[str], List[Optional[str]]]:
        """'yes', 'no' or 'maybe' (PubMedQA), or None where the model's sentence gives no answer."""
        if isinstance(question, str):
            return self.answer([question], [context], beam=beam, max_len=max_len)[0]
        if len(question) != len(context):
            raise UserError(f"{len(question)} questions but {len(context)} contexts")
        sources = [PubMedQA.source_for(q, c) for q, c in zip(question, context)]
        return self._decode(get_task("pubmedqa"), sources, beam, max_len)

    def classify(self, text: Union[str, Sequence[str]], beam: int = 5,
                 max_len: int = 64) -> Union[List[str], List[List[str]]]:
        """Hallmarks of Cancer labels of a sentence ('empty' for none, as in HoC's data)."""
        if isinstance(text, str):
            return self.classify([text], beam=beam, max_len=max_len)[0]
        return self._decode(get_task("hoc"), list(text), beam, max_len)
