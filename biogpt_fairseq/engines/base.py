"""The generation interface: a loaded model that turns text into prompted sources and completes them.

`Engine` does what every engine shares, from the checkpoint's fairseq task (no network weights
needed): text to token ids and back, the prompted prefix a source is completed from, the
original's length limit, batches by a token budget, and fairseq's pick among an engine's beam
hypotheses. A subclass runs the network: `_hypotheses(prefixes, beam, new_tokens)` gives each prefix's
hypotheses, `_fairseq_means` scores them for fairseq's ranking (by default from `_log_probs(sequences)`,
a forward over whole sequences).
"""
import contextlib
import hashlib
import os
import shutil
import socket
import tempfile
import warnings
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Sequence

import torch

from biogpt_fairseq.engines import BEAM_RANKINGS, DTYPES, ENGINES
from biogpt_fairseq.textio import UserError

CHECKPOINT_NAMES = ("checkpoint.pt", "checkpoint_best.pt", "checkpoint_avg.pt", "checkpoint_last.pt")
DEFAULT_BATCH_SIZE = 16  # sentences a batch when no token budget is given (the API's)


class Completion(NamedTuple):
    prefix: torch.Tensor  # the forced tokens after the leading eos: the prompted source
    tokens: torch.Tensor  # the generated tokens, up to and without the final eos
    score: float  # the engine's score of the hypothesis (fairseq's: mean log-probability over the sequence)


def checkpoint_in(path: Path, checkpoint_file: Optional[str]) -> Path:
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


class Checkpoint(NamedTuple):
    """A fairseq checkpoint as loaded: its file, its state (weights included) and its set-up task."""
    path: Path
    state: dict
    task: object
    source: Path  # what the user named: the checkpoint, or the Hugging Face directory it was converted from


def load_checkpoint(path, checkpoint_file: Optional[str] = None, data: Optional[str] = None,
                    bpe_codes: Optional[str] = None, overrides: Optional[dict] = None, keep: list = None) -> Checkpoint:
    """A fairseq checkpoint (a .pt file or a directory holding one) or a Hugging Face directory (converted
    into a temporary directory that lives as long as `keep`), with its task set up as saved."""
    from fairseq import checkpoint_utils, tasks

    import biogpt_fairseq.plugin  # noqa: F401  (registers the plugin)

    source = path = Path(path)
    if path.is_dir() and (path / "config.json").is_file():  # Hugging Face: convert once, then as fairseq
        from biogpt_fairseq.models.hf_conversion import from_hf

        directory = tempfile.TemporaryDirectory(prefix="biogpt-from-hf-")
        keep.append(directory)
        path = from_hf(path, Path(directory.name))
    checkpoint = checkpoint_in(path, checkpoint_file)
    data_dir = Path(data) if data else checkpoint.parent
    codes = Path(bpe_codes) if bpe_codes else data_dir / "bpecodes"
    if not codes.is_file():
        raise FileNotFoundError(f"{codes}: no such file (the model's BPE codes; pass bpe_codes=)")
    state = checkpoint_utils.load_checkpoint_to_cpu(str(checkpoint), arg_overrides={
        "data": str(data_dir), "tokenizer": "moses", "bpe": "fastbpe", "bpe_codes": str(codes), **(overrides or {})})
    try:
        task = tasks.setup_task(state["cfg"].task)
    except FileNotFoundError as err:  # the dictionary
        raise FileNotFoundError(f"{err} (the model's dictionary; pass data=)") from None
    task.load_state_dict(state.get("task_state") or {})
    rows = state["model"]["decoder.embed_tokens.weight"].size(0)
    if rows != len(task.target_dictionary):
        raise UserError(f"the dictionary in {data_dir} gives a vocabulary of {len(task.target_dictionary)} "
                        f"types but {checkpoint} was trained with {rows}: not this model's dictionary")
    return Checkpoint(checkpoint, state, task, source)


def build_model(checkpoint: Checkpoint):
    """The fairseq model of a loaded checkpoint, its weights in place, in eval mode."""
    cfg = checkpoint.state["cfg"]
    model = checkpoint.task.build_model(cfg.model, from_checkpoint=True)  # (drops settings of older releases)
    model.load_state_dict(checkpoint.state["model"], strict=True, model_cfg=cfg.model)
    return model.eval()


def content_key(path: Path) -> str:
    """A short digest of a file's bytes, or of the files of a directory (names and bytes; not its
    folders, where the conversions are kept)."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
    for file in files:
        digest.update(file.name.encode() + b"\0")
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 24), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def converted_dir(checkpoint: Checkpoint, engine: str, dtype: str) -> Path:
    """Where an engine's conversion of this checkpoint in this precision is kept: beside the checkpoint
    (a Hugging Face directory: inside it), named by the content's digest, so a changed checkpoint is
    converted anew."""
    source = checkpoint.source
    if source.is_dir():
        return source / f"{engine}-{dtype}-{content_key(source)}"
    return source.parent / f"{source.stem}.{engine}-{dtype}-{content_key(source)}"



@contextlib.contextmanager
def converting(out: Path):
    """A folder to write a conversion into, renamed to `out` when it is complete. Processes that convert
    the same checkpoint at once (a Ray job's actors, on one node or on shared storage) each write a copy
    of their own; the first renamed into place stays and the later ones are dropped."""
    partial = out.with_name(f"{out.name}.partial-{socket.gethostname()}-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        yield partial
        try:
            partial.rename(out)
        except OSError:
            if not out.is_dir():  # (not another process' copy in place: a real failure)
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)

class Engine:
    """A loaded model: the text side from its checkpoint's task; the network from a subclass."""

    name = ""
    # dtype asked for -> what runs, per device type; a missing one is refused
    DTYPES_RUN: Dict[str, Dict[str, str]] = {}

    def __init__(self, checkpoint: Checkpoint, dtype: str = "fp32", device: Optional[str] = None,
                 max_tokens: Optional[int] = None, batch_size: Optional[int] = None, beam_ranking: str = "fairseq"):
        from fairseq import utils
        from fairseq.data import encoders

        if beam_ranking not in BEAM_RANKINGS:
            raise UserError(f"beam_ranking {beam_ranking!r}: choose from {', '.join(BEAM_RANKINGS)}")
        self.beam_ranking = beam_ranking

        self.task = checkpoint.task
        self.checkpoint = checkpoint.path
        self.dictionary = self.task.target_dictionary
        cfg = checkpoint.state["cfg"]
        self.tokenizer = self.task.build_tokenizer(cfg.tokenizer)  # the task's hook: the data's Moses
        self.bpe = encoders.build_bpe(cfg.bpe)
        self.is_prompt_model = cfg.task._name == "language_modeling_prompt"
        self.settings = dict(self.task.settings) if self.is_prompt_model else {}
        self.max_positions = utils.resolve_max_positions(self.task.max_positions(), cfg.model.max_target_positions)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.dtype = self.runs_in(dtype, self.device.type)
        self.max_tokens, self.batch_size = max_tokens, batch_size if max_tokens else batch_size or DEFAULT_BATCH_SIZE

    @classmethod
    def precisions(cls, device_type: str) -> Dict[str, str]:
        """dtype asked for -> what runs, on `device_type`."""
        return cls.DTYPES_RUN.get(device_type, {})

    @classmethod
    def runs_in(cls, dtype: str, device_type: str) -> str:
        """The precision that runs for `dtype` on `device_type`: the same, or (with a warning that says
        so) the nearest this engine runs well there; an error where it has none."""
        if dtype not in DTYPES:
            raise UserError(f"dtype {dtype!r}: choose from {', '.join(DTYPES)}")
        precisions = cls.precisions(device_type)
        runs = precisions.get(dtype)
        if runs is None:
            offered = [e for e in ENGINES if e != cls.name]
            raise UserError(f"the {cls.name} engine has no {dtype} on {device_type} ({DTYPES[dtype]}); "
                            f"its precisions there: {', '.join(precisions)} (other engines: {', '.join(offered)})")
        if runs != dtype:
            warnings.warn(f"the {cls.name} engine does not run {dtype} well on {device_type}: running {runs}",
                          stacklevel=4)
        return runs

    # --- text -------------------------------------------------------------------------------------

    def encode(self, text: str) -> torch.Tensor:
        """One line of text as the model's token ids, ending with eos (Moses, BPE, the dictionary)."""
        if "\0" in text:  # fastBPE (C++) would silently cut the word at it
            raise UserError("contains a NUL character")
        line = self.bpe.encode(self.tokenizer.encode(" ".join(text.split())))
        return self.dictionary.encode_line(line, add_if_not_exist=False).long()

    def string(self, tokens: torch.Tensor) -> str:
        """Tokens as the dictionary's symbols (BPE kept), as fairseq's `Dictionary.string` writes them: eos
        and bos left out, an id past the dictionary as unk. (Its loop reads the tensor an element at a time:
        3 s of the fairseq engine's 16 for 1,000 KD-DTI sources of about 400 tokens.)"""
        symbols, unk = self.dictionary.symbols, self.dictionary.unk_word
        left_out = {self.dictionary.eos(), self.dictionary.bos()}
        return " ".join(symbols[i] if i < len(symbols) else unk for i in tokens.tolist() if i not in left_out)

    def decode(self, tokens: torch.Tensor) -> str:
        """Tokens as text: BPE removed, Moses detokenized."""
        return self.tokenizer.decode(self.bpe.decode(self.string(tokens)))

    def split_sources(self, data_bin: Path, split: str) -> List[torch.Tensor]:
        """A fine-tuning data directory's binarized sources of `split`, in order (what the original
        encodes from its BPE'd .x file)."""
        from fairseq.data import data_utils

        args = self.task.args
        prefix = data_bin / f"{split}.{args.source_lang}-{args.target_lang}.{args.source_lang}"
        dataset = data_utils.load_indexed_dataset(str(prefix), self.dictionary)
        if dataset is None:
            raise UserError(f"{prefix}.{{bin,idx}}: no such split in {data_bin}")
        return [dataset[i] for i in range(len(dataset))]

    @property
    def max_source_positions(self) -> Optional[int]:
        """How many source tokens a prompt model reads (longer sources are cut); None for a language model."""
        return self.task.max_source_positions if self.is_prompt_model else None

    def prefix(self, source: torch.Tensor) -> torch.Tensor:
        """What the model continues for a source (ending with eos): its prompted form after a leading
        eos, as in fine-tuning (a language model: the source itself)."""
        if self.is_prompt_model:
            return self.task.build_dataset_for_inference([source], [len(source)])[0]["prefix"]
        return torch.cat([source[-1:], source[:-1]])

    # --- generation -------------------------------------------------------------------------------

    def generate(self, sources: List[torch.Tensor], beam: int = 1, max_len_a: float = 0, max_len_b: int = 1024,
                 max_new_tokens: Optional[int] = None, **options) -> List[Completion]:
        """The best completion of each source (token ids ending with eos), in input order. The whole
        sequence after the leading eos stays within fairseq's limit, `max_len_a` times the longest
        prefix of its batch plus `max_len_b`, and the model's positions; `max_new_tokens` caps the
        generated tokens. Other options are fairseq generator options (the fairseq engine's alone)."""
        if options:
            raise UserError(f"the {self.name} engine takes no generation options {sorted(options)} "
                            "(they are fairseq's: use engine='fairseq')")
        if max_len_a and max_new_tokens is None:
            raise UserError(f"the {self.name} engine limits a completion by max_new_tokens (or the original's "
                            "max_len_a=0 limit), not max_len_a")
        prefixes = [self.prefix(s) for s in sources]
        limits = [self.new_token_limit(len(p) - 1, max_len_b, max_new_tokens) for p in prefixes]
        eos = self.dictionary.eos()
        results: List[Optional[Completion]] = [None] * len(prefixes)
        for batch in self.batches([len(p) for p in prefixes]):
            found = self._hypotheses([prefixes[i].tolist() for i in batch], beam, min(limits[i] for i in batch))
            for index, hypotheses in zip(batch, found):
                prefix = prefixes[index].tolist()
                tokens, score = self._best(prefix, hypotheses)
                if tokens[-1:] != [eos] and len(tokens) < limits[index]:  # stopped at the batch's limit, not its own
                    tokens, score = self._best(prefix, self._hypotheses([prefix], beam, limits[index])[0])
                tokens = tokens[:-1] if tokens[-1:] == [eos] else tokens
                results[index] = Completion(prefixes[index][1:], torch.tensor(tokens, dtype=torch.long), float(score))
        return results

    def _best(self, prefix: List[int], hypotheses: List[tuple]) -> tuple:
        """The hypothesis returned among an engine's (ids, score), by `beam_ranking`: 'fairseq', the one
        fairseq's beam search would return: the best mean log-probability of the whole sequence after the
        leading eos, a final eos included (fairseq forces one at the limit); 'engine', the engine's first.
        The engines rank by the generated tokens alone, which picks another on some prompts."""
        if len(hypotheses) == 1 or self.beam_ranking == "engine":
            return hypotheses[0]
        means = self._fairseq_means(prefix, hypotheses)
        best = max(range(len(means)), key=means.__getitem__)
        return hypotheses[best][0], means[best]

    def _fairseq_means(self, prefix: List[int], hypotheses: List[tuple]) -> List[float]:
        """fairseq's score of each hypothesis: the mean log-probability of the whole sequence after the
        leading eos, a final eos included; here by one more forward over every hypothesis."""
        eos = self.dictionary.eos()
        sequences = [prefix + (ids if ids[-1:] == [eos] else ids + [eos]) for ids, _ in hypotheses]
        return [sum(scores) / len(scores) for scores in self._log_probs(sequences)]

    def new_token_limit(self, prefix_length: int, max_len_b: int, max_new_tokens: Optional[int]) -> int:
        """How many tokens fairseq's generator may add after a prefix: the whole sequence within
        `max_len_b` (max_len_a 0, the original's) and the model's positions, less one for the final eos."""
        whole = min(max_len_b, self.max_positions - 1) if max_new_tokens is None else self.max_positions - 1
        room = whole - prefix_length
        if room < 1:
            raise UserError(f"a length limit of {whole} tokens leaves no room after a prompted source of "
                            f"{prefix_length} tokens")
        return room if max_new_tokens is None else min(room, max_new_tokens)

    def batches(self, lengths: Sequence[int]) -> List[List[int]]:
        """Indices grouped into batches of similar length within the token budget (fairseq's rule:
        the longest times the count), or of `batch_size` sentences."""
        order = sorted(range(len(lengths)), key=lambda i: lengths[i])
        batches, batch = [], []
        for index in order:
            # (ascending: this one is the longest)
            full = (self.max_tokens and lengths[index] * (len(batch) + 1) > self.max_tokens) or \
                (self.batch_size and len(batch) == self.batch_size)
            if batch and full:
                batches.append(batch)
                batch = []
            batch.append(index)
        return batches + [batch] if batch else batches

    def _hypotheses(self, prefixes: List[List[int]], beam: int, new_tokens: int) -> List[List[tuple]]:
        """Each prefix's (leading eos included) `beam` best hypotheses, the engine's best first, as (ids,
        the engine's score, which the engine's `_fairseq_means` reads): at most `new_tokens` ids, ending
        with eos where the hypothesis ended."""
        raise NotImplementedError

    def _log_probs(self, sequences: List[List[int]]) -> List[List[float]]:
        """The log-probability of each token of each sequence after its first."""
        raise NotImplementedError

    def to(self, device) -> "Engine":
        if torch.device(device).type != self.device.type:
            raise UserError(f"the {self.name} engine runs where it was loaded ({self.device}): "
                            "pass device= when loading")
        return self
