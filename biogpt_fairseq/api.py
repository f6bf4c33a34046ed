"""A small Python API over fairseq's generator: `from biogpt_fairseq import BioGPT`.

    model = BioGPT.from_pretrained("checkpoints/RE-BC5CDR-BioGPT")   # or a Hugging Face directory
    model.extract_relations(["Naloxone reverses the antihypertensive effect of clonidine. ..."])
    model.answer("Do statins reduce mortality?", "We studied ...")    # a PubMedQA fine-tuned model
    model.classify("The tumour cells evaded apoptosis ...")            # a HoC fine-tuned model
    model.generate(["COVID-19 is"], beam=5, max_len=40)                # any model

Generation is fairseq's (incremental decoding, beam search or sampling),
batched, with outputs in input order. The task methods decode as the original
release's inference does by default (greedy, the whole sequence within the
model's positions, the original's postprocess), through the dataset specs of
`biogpt_fairseq.downstream`; a fine-tuned checkpoint says which dataset it was
fine-tuned on.
"""
import tempfile
import warnings
from pathlib import Path
from typing import Iterable, Iterator, List, NamedTuple, Optional, Sequence, Union

import torch
from fairseq import utils
from omegaconf import open_dict

import biogpt_fairseq.plugin  # noqa: F401  (registers the plugin)
from biogpt_fairseq.downstream import resolve
from biogpt_fairseq.runtime import precision
from biogpt_fairseq.runtime.sequence_generator import AllowedTokens, BioGPTSequenceGenerator
from biogpt_fairseq.textio import UserError

CHECKPOINT_NAMES = ("checkpoint.pt", "checkpoint_best.pt", "checkpoint_avg.pt", "checkpoint_last.pt")
ON_OVERFLOW = ("truncate", "error")
ORIGINAL_DECODING = {"beam": 1, "max_len_a": 0, "max_len_b": 1024}  # the original's inference.py


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

    def __init__(self, hub, on_overflow: str = "truncate", checkpoint: Optional[Path] = None, _keep=None):
        if on_overflow not in ON_OVERFLOW:
            raise ValueError(f"on_overflow must be one of {ON_OVERFLOW}, not {on_overflow!r}")
        self.hub = hub.eval()
        self.on_overflow = on_overflow
        self.is_prompt_model = hub.cfg.task._name == "language_modeling_prompt"
        self.dataset = hub.task.settings["dataset"] if self.is_prompt_model else None
        self.checkpoint = checkpoint
        self._keep = _keep  # a converted Hugging Face model's temporary directory lives as long as we do

    @classmethod
    def from_pretrained(cls, path, checkpoint_file: Optional[str] = None, data: Optional[str] = None,
                        bpe_codes: Optional[str] = None, batch_size: int = 16,
                        on_overflow: str = "truncate", dtype: str = "fp32") -> "BioGPT":
        """Load a fairseq checkpoint (a .pt file or a directory holding one) or a Hugging Face directory.

        `data` is the directory with the model's dictionary and BPE codes (a fine-tuning data-bin
        carries both), `bpe_codes` the codes if elsewhere; both default to the checkpoint's
        directory. `on_overflow` says what an input longer than the model's positions gets:
        'truncate' (with a warning) or 'error'. `dtype` is the precision generation runs in: 'fp32' (the
        original's), 'bf16' (half the bytes read a token) or 'int8' (int8 weights, fp32 activations: a
        quarter); README's differences from the original.
        """
        from fairseq import checkpoint_utils, tasks
        from fairseq.hub_utils import GeneratorHubInterface

        precision.torch_dtype(dtype)  # (an unknown one is an error before the model loads)
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
            "data": str(data_dir), "tokenizer": "moses", "bpe": "fastbpe", "bpe_codes": str(codes),
            "decoding_dtype": dtype})  # (the prompt task's generator option, where its checkpoint has one)
        cfg = state["cfg"]
        cfg.dataset.batch_size, cfg.dataset.max_tokens = batch_size, None
        try:
            task = tasks.setup_task(cfg.task)
        except FileNotFoundError as err:  # the dictionary
            raise FileNotFoundError(f"{err} (the model's dictionary; pass data=)") from None
        task.load_state_dict(state.get("task_state") or {})
        rows = state["model"]["decoder.embed_tokens.weight"].size(0)
        if rows != len(task.target_dictionary):
            raise UserError(f"the dictionary in {data_dir} gives a vocabulary of {len(task.target_dictionary)} "
                            f"types but {checkpoint} was trained with {rows}: not this model's dictionary")
        model = task.build_model(cfg.model, from_checkpoint=True)  # (drops settings of older releases)
        model.load_state_dict(state["model"], strict=True, model_cfg=cfg.model)
        precision.cast([model], dtype)
        hub = GeneratorHubInterface(cfg, task, [model])
        hub.tokenizer = task.build_tokenizer(cfg.tokenizer)  # the task's hook, which the hub does not call
        return cls(hub, on_overflow=on_overflow, checkpoint=checkpoint, _keep=keep)

    def to(self, device) -> "BioGPT":
        self.hub.to(device)
        return self

    @property
    def device(self) -> torch.device:
        return self.hub.device

    @property
    def dtype(self) -> str:
        """The precision generation runs in ('fp32', 'bf16' or 'int8')."""
        return precision.of(self.hub.models[0])

    # --- generation ---------------------------------------------------------------------------

    def _encode(self, texts: Sequence[str]) -> List[torch.Tensor]:
        for i, text in enumerate(texts):
            if "\0" in text:  # fastBPE (C++) would silently cut the word at it
                raise UserError(f"input {i} contains a NUL character")
        # one line of text, as in training (newlines, U+2028, tabs are spaces)
        return [self.hub.encode(" ".join(t.split())) for t in texts]

    def _fit(self, tokens: List[torch.Tensor], max_len: Optional[int]) -> List[torch.Tensor]:
        """Inputs (each ending with eos) that fit: a prompt model's sources are cut at the task's
        max_source_positions by its dataset (the last kept token made '...', as in fine-tuning);
        a language model keeps the end of its text, room left for `max_len` new tokens."""
        if self.is_prompt_model:
            room = self.hub.task.max_source_positions
            what = "the task's max_source_positions"
        else:
            room = self.hub.max_positions - 1 - max_len
            what = f"the room the model's positions leave with max_len={max_len}"
        if room < 1:
            raise UserError(f"max_len={max_len} leaves no room for the input in {self.hub.max_positions} positions")
        too_long = [i for i, t in enumerate(tokens) if len(t) - 1 > room]
        if not too_long:
            return tokens
        first = too_long[0]
        message = (f"{len(too_long)} input(s) longer than the {room} tokens of {what} (input {first}: "
                   f"{len(tokens[first]) - 1} tokens{', ...' if len(too_long) > 1 else ''})")
        if self.on_overflow == "error":
            raise InputTooLongError(message)
        warnings.warn(f"{message}: the {'first' if self.is_prompt_model else 'last'} {room} tokens of each are used",
                      stacklevel=3)
        if self.is_prompt_model:
            return tokens
        return [torch.cat([t[len(t) - 1 - room:-1], t[-1:]]) if len(t) - 1 > room else t for t in tokens]

    def _search(self, tokens: List[torch.Tensor], beam: int, allowed_text: Optional[str] = None,
                generator_class=BioGPTSequenceGenerator, **options) -> List[dict]:
        """The best hypothesis of each input, in input order, from BioGPT's sequence generator (or
        `generator_class`, for comparisons); with `allowed_text`, constrained to the source's tokens
        and that text's (the original's ConstrainedGenerator)."""
        if not tokens:
            return []
        gen_args = self.hub.cfg.generation.copy()
        with open_dict(gen_args):
            gen_args.beam = beam
            for key, value in options.items():
                setattr(gen_args, key, value)
        allowed = None
        if allowed_text is not None:
            allowed = AllowedTokens(self.hub.encode(allowed_text), self.hub.task.dictionary.pad())
        generator = self.hub.task.build_generator(self.hub.models, gen_args, seq_gen_cls=generator_class,
                                                  prefix_allowed_tokens_fn=allowed)
        results = []
        with torch.no_grad(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*pin_memory.*")  # fairseq's loader asks for it; no GPU here
            for batch in self.hub._build_batches(tokens, skip_invalid_size_inputs=False):
                batch = utils.apply_to_sample(lambda t: t.to(self.device), batch)
                prefixes = batch.get("prefix_tokens")
                hypotheses = self.hub.task.inference_step(generator, self.hub.models, batch)
                for row, (index, hypos) in enumerate(zip(batch["id"].tolist(), hypotheses)):
                    prefix = None
                    if prefixes is not None:
                        prefix = prefixes[row, 1:]
                        prefix = prefix[prefix.ne(self.hub.task.dictionary.pad())]
                    results.append((index, {**hypos[0], "prefix": prefix}))
        return [hypo for _, hypo in sorted(results, key=lambda r: r[0])]

    def generate(self, texts: Union[str, Sequence[str]], beam: int = 5, max_len: int = 64, sampling: bool = False,
                 **options) -> Union[str, List[str]]:
        """The continuation of each text: at most `max_len` new tokens, detokenized.

        Beam search by default; `sampling=True` samples (with fairseq's `sampling_topk`,
        `sampling_topp`, `temperature`). Other fairseq generation options pass through
        (e.g. `no_repeat_ngram_size=3`, `lenpen`, `min_len`). A single string gives a string.
        """
        if isinstance(texts, str):
            return self.generate([texts], beam=beam, max_len=max_len, sampling=sampling, **options)[0]
        tokens = self._fit(self._encode(texts), max_len)
        hypotheses = self._search(tokens, beam, sampling=sampling, max_len_a=1, max_len_b=max_len, **options)
        continuations = []
        for source, hypo in zip(tokens, hypotheses):
            generated = hypo["tokens"]
            if not self.is_prompt_model:  # a language model's output starts with its input (without eos)
                generated = generated[len(source) - 1:]
            continuations.append(self.hub.decode(generated[:max_len]))
        return continuations

    # --- downstream datasets ------------------------------------------------------------------

    def complete(self, sources: Sequence[str], beam: int = ORIGINAL_DECODING["beam"], **options) -> List[str]:
        """What the original's inference writes for each source of a prompt model: the whole sequence
        (source, prompt, generated answer) decoded, greedily and within the model's positions by
        default."""
        if not self.is_prompt_model:
            raise UserError("complete() is for a fine-tuned (prompt) model")
        return self.complete_tokens(self._fit(self._encode(sources), None), beam=beam, **options)

    def complete_tokens(self, tokens: List[torch.Tensor], beam: int = ORIGINAL_DECODING["beam"], bpe: bool = True,
                        max_new_tokens: Optional[int] = None, **options) -> List[str]:
        """`complete` for sources already encoded (each ending with eos); with bpe=False the lines
        are left as tokens, as the original's inference writes them before BPE removal; with
        `max_new_tokens`, at most that many tokens are generated (not the original's limit)."""
        settings = {**ORIGINAL_DECODING, **options, "beam": beam}
        if max_new_tokens is not None:
            settings.update(max_len_a=1, max_len_b=max_new_tokens)
        hypotheses = self._search(tokens, settings.pop("beam"), **settings)
        sequences = [torch.cat([h["prefix"], h["tokens"][:max_new_tokens]]) for h in hypotheses]
        return [self.hub.decode(s) if bpe else self.hub.string(s) for s in sequences]

    def spec(self, dataset: Optional[str] = None):
        """The spec of the dataset the model was fine-tuned on (a paper dataset, or one defined by files)."""
        if dataset is not None and self.dataset is not None and dataset != self.dataset:
            raise UserError(f"this model was fine-tuned on {self.dataset}, not {dataset}")
        name = dataset or self.dataset
        if name is None:
            raise UserError("the checkpoint does not say which dataset it was fine-tuned on: pass dataset=")
        return resolve(name, self.hub.task.settings.get("definition") if name == self.dataset else None)

    def _spec(self, dataset: Optional[str], kind: str):
        spec = self.spec(dataset)
        if spec.kind != kind:
            raise UserError(f"{spec.name} is not a {kind} dataset")
        return spec

    def _decoded(self, spec, sources: List[str], decoder: str, beam: int, **options) -> list:
        lines = self.complete(sources, beam=beam, **options)
        settings = self.hub.task.settings
        variant = (settings.get("variant") if spec.name == settings.get("dataset") else None) or "default"
        return [spec.decode(line, decoder, None, source, variant=variant).value for line, source in zip(lines, sources)]

    def extract_relations(self, abstracts: Sequence[str], dataset: Optional[str] = None, decoder: str = "original",
                          beam: int = 1, format: Optional[str] = None, **options) -> Union[List[List[Triple]], str]:
        """(head, relation, tail) triples for each abstract, as the model's dataset has them:
        chemical-induced disease ('CID') for bc5cdr, drug-drug interactions for ddi,
        drug-target interactions for kd-dti, yours for a dataset of your own. With `format`
        ('jsonl', 'pubtator', 'bioc-xml', 'bioc-json'), the abstracts (texts, or records with
        "id", "title", "abstract") and their triples rendered in that format, as a string."""
        if format is not None:
            from biogpt_fairseq.downstream.extract import Extractor, documents_from, render

            self._spec(dataset, "triples")
            extractor = Extractor(self, decoder, beam, options.pop("max_new_tokens", None))
            return render(extractor.rows(documents_from(abstracts)), format, extractor)
        spec = self._spec(dataset, "triples")
        decoded = self._decoded(spec, [spec.api_source(a) for a in abstracts], decoder, beam, **options)
        return [[Triple(t["head"], t["relation"], t["tail"]) for t in triples] for triples in decoded]

    def extract(self, documents: Iterable, decoder: str = "original", beam: int = 1, batch_docs: int = 64,
                max_new_tokens: Optional[int] = None) -> Iterator[dict]:
        """One result per document, lazily, in input order: documents (texts, records with "id", "text"
        or "title" and "abstract" (and "question" for a qa model), or `formats.Document`s, e.g. from
        `formats.read_documents(path)`) are read and generated `batch_docs` at a time, so any number
        runs in bounded memory. Each result is the record biogpt-extract writes as JSON lines."""
        from biogpt_fairseq.downstream.extract import Extractor, documents_from

        extractor = Extractor(self, decoder, beam, max_new_tokens, batch_docs)
        for _, row in extractor.rows(documents_from(documents)):
            yield row

    def answer(self, question: Union[str, Sequence[str]], context: Union[str, Sequence[str]],
               long_answer: Union[str, Sequence[str]] = "", decoder: str = "original", beam: int = 1,
               **options) -> Union[Optional[str], List[Optional[str]]]:
        """The answer to each question (PubMedQA: 'yes', 'no' or 'maybe'), or None where the model's
        sentence gives none. A model of the original's (reasoning-free) data reads the long answer too."""
        if isinstance(question, str):
            return self.answer([question], [context], [long_answer], decoder, beam, **options)[0]
        long_answer = [long_answer] * len(question) if isinstance(long_answer, str) else long_answer
        if not len(question) == len(context) == len(long_answer):
            raise UserError(f"{len(question)} questions, {len(context)} contexts and {len(long_answer)} long answers")
        spec = self._spec(None if self.dataset else "pubmedqa", "answer")
        sources = [spec.api_source(q, c, a) for q, c, a in zip(question, context, long_answer)]
        return self._decoded(spec, sources, decoder, beam, **options)

    def classify(self, text: Union[str, Sequence[str]], decoder: str = "original", beam: int = 1,
                 **options) -> Union[List[str], List[List[str]]]:
        """The labels of each text (HoC: Hallmarks of Cancer, 'empty' for none)."""
        if isinstance(text, str):
            return self.classify([text], decoder, beam, **options)[0]
        spec = self._spec(None if self.dataset else "hoc", "labels")
        return self._decoded(spec, [spec.api_source(t) for t in text], decoder, beam, **options)
