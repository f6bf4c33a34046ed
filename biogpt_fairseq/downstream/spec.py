"""What a downstream dataset is: one spec owns every fact about it.

A spec says where its raw files and gold files are, how a record becomes the
source and target sentences (exactly as the original release's
`rebuild_data.py` writes them), how a generated line decodes back into triples,
an answer or labels (the original's `postprocess.py` by default, a more robust
parser by name), and how predictions are scored (the original's scorer). The
generic pipeline (`build`, `postprocess`, `evaluate`, `infer`, the demo, the
API) only ever asks the spec. Adding a dataset is one module that registers a
spec with `@register`, and one short fine-tuning config.
"""
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from biogpt_fairseq.tasks.prompt_layout import PromptLayout
from biogpt_fairseq.textio import UserError, read_lines

DATASETS: Dict[str, "DatasetSpec"] = {}

# The decoders a spec offers: the original release's postprocess, and ours (see docs/fidelity.md,
# "Differences from the original", for what it changes and its measured effect).
DECODERS = ("original", "robust")


def register(spec_class):
    """Class decorator: make a spec available by its `name`."""
    DATASETS[spec_class.name] = spec_class()
    return spec_class


def get_dataset(name: str) -> "DatasetSpec":
    if name not in DATASETS:
        raise UserError(f"unknown dataset {name!r}: choose from {', '.join(sorted(DATASETS))}")
    return DATASETS[name]


def only_dataset_of_kind(kind: str) -> Optional[str]:
    """The name of the one registered dataset of `kind`, or None where there are none or several (a
    model that does not name its dataset is then read as that one's)."""
    names = [name for name, spec in DATASETS.items() if spec.kind == kind]
    return names[0] if len(names) == 1 else None


@dataclass(frozen=True)
class SpecOption:
    """A command-line option of a dataset's own, which the generic tools offer and hand to its hooks
    (decoding options to `decoding_resources`, scorer options to `score`) as `dest=value`."""
    flag: str  # e.g. "--entities"
    help: str
    default: object = None
    choices: Optional[Tuple[str, ...]] = None

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")


def add_spec_options(parser, what: str) -> None:
    """The options of every registered dataset's `what` ("decoding_options" or "scorer_options"),
    each once, its help naming the datasets that read it."""
    readers: Dict[str, List[str]] = {}
    options: Dict[str, SpecOption] = {}
    for name, spec in sorted(DATASETS.items()):
        for option in getattr(spec, what):
            options.setdefault(option.flag, option)
            readers.setdefault(option.flag, []).append(name)
    for flag, option in options.items():
        parser.add_argument(flag, default=option.default, choices=option.choices,
                            help=f"{', '.join(readers[flag])}: {option.help}")


def spec_options(spec: "DatasetSpec", what: str, args) -> dict:
    """The values of `spec`'s own options of `what` in parsed arguments (a dataset defined by files has none)."""
    return {option.dest: getattr(args, option.dest) for option in getattr(spec, what)}


@dataclass(frozen=True)
class Example:
    id: str  # the PMID (or the record's key) where the original writes a .pmid file, else the line number
    source: str
    target: str
    gold: object  # triples, an answer or labels


@dataclass(frozen=True)
class Problem:
    """A record, or a part of one, that the build could not use as it is: where it is, what
    happened (the reason says whether it was left out or kept), and the detail."""
    where: str
    reason: str
    detail: str


@dataclass(frozen=True)
class Decoded:
    parsed: bool
    value: object  # triples [{"head", "relation", "tail"(, BC5CDR: "head_id", "tail_id")}], an answer, labels
    text: Optional[str] = None  # labels: the answer as read, before it is split (what the original writes)


def strip_final_period(line: str) -> str:
    """The original's first step: the line stripped, one final '.' removed."""
    line = line.strip()
    return line[:-1] if line.endswith(".") else line


def strip_prompt_prefix(line: str, prefixes: Sequence[str]) -> str:
    """The original's `strip_prefix`: the text after the last match of the first pattern that occurs
    (the learned prompt tokens first, then the hard prompts it experimented with)."""
    for pattern in prefixes:
        if re.search(pattern, line) is not None:
            return re.split(pattern, line)[-1].strip()
    return line


def read_tsv(path: Path):
    """(line number, source, label) of each record: the original skips empty lines and keeps the
    first two tab-separated fields."""
    for lineno, line in read_lines(str(path)):
        if not line:
            continue
        fields = line.split("\t")
        if len(fields) < 2:
            raise UserError(f"{path}:{lineno}: expected a tab-separated source and label")
        yield lineno, fields[0].strip(), fields[1].strip()


def with_final_period(text: str) -> str:
    return text if text.endswith(".") else text + "."


# The prompt of a model whose layout is not known: the original's learned tokens, learned1 learned2 ...
DEFAULT_LAYOUT = PromptLayout()
# The hard prompts the original experimented with, whose prefixes its postprocess strips after the
# learned tokens'; BC5CDR's has a space before the comma.
HARD_PROMPTS = ("we can conclude that", "we have that", "in conclusion,")


class DatasetSpec:
    """One downstream dataset. Subclasses set the class attributes and override the methods."""

    name = ""
    folder = ""  # the dataset's folder in the data mirror: FOLDER/raw/...
    kind = ""  # "triples", "answer" or "labels": the key of the decoded value in predictions
    raw_files: Dict[str, str] = {}  # split -> the original's raw file under FOLDER/raw/
    gold_files: Dict[str, str] = {}  # split -> what the original's scorer reads, under FOLDER/raw/
    writes_ids = True  # the original writes {split}.pmid (relation datasets)
    # Which checkpoint the original's infer.sh decodes with: the average of the last 5 epoch
    # checkpoints, or checkpoint_last.pt (HoC, which trains by updates).
    inference_checkpoint = "average"
    variants: Dict[str, str] = {"default": "as the original release builds it"}
    pretraining_split: Optional[str] = "train"  # whose documents a pre-training corpus may take (the demo's)
    paper_result = ""  # what the paper reports for BioGPT (347M), for scale
    hard_prompts = HARD_PROMPTS
    definition: Optional[dict] = None  # a dataset defined by files (custom.py): what rebuilds its spec
    lowercase = True  # the model reads new text lower-cased, as the paper's datasets have it (not HoC)
    # Options of the dataset's own on the generic tools' command lines (biogpt-postprocess: decoding;
    # biogpt-evaluate: scoring), handed to `decoding_resources` and `score`.
    decoding_options: Tuple[SpecOption, ...] = ()
    scorer_options: Tuple[SpecOption, ...] = ()

    # --- building ------------------------------------------------------------------------------

    def raw_path(self, raw_dir: Path, split: str) -> Path:
        if split not in self.raw_files:
            raise UserError(f"{self.name} has no {split!r} split (it has {', '.join(self.raw_files)})")
        return Path(raw_dir) / self.raw_files[split]

    def examples(self, raw_dir: Path, split: str, variant: str = "default") -> Iterator[Example]:
        """The split's examples in the original's order (an empty target: a document without gold,
        which the build leaves out and counts); a dataset read from users' files also yields a
        `Problem` for each record it cannot use as it is."""
        raise NotImplementedError

    def check_variant(self, variant: str) -> str:
        if variant not in self.variants:
            raise UserError(f"{self.name} has no variant {variant!r} (it has {', '.join(self.variants)})")
        return variant

    def documents(self, raw_dir: Path, split: str) -> Iterator[Tuple[str, str]]:
        """(id, text) of the split's documents as plain text, for a pre-training corpus."""
        raise NotImplementedError

    def constraint_text(self, variant: str = "default") -> str:
        """The words of the target sentences beside the source's: what constrained decoding allows."""
        raise NotImplementedError

    def api_source(self, *parts: str) -> str:
        """The source text the model reads for new input (the API's task methods)."""
        raise NotImplementedError

    def cased(self, text: str) -> str:
        return text.lower() if self.lowercase else text

    # --- decoding ------------------------------------------------------------------------------

    decoding_reads_raw_data = False  # decoding_resources reads the split's raw files (BC5CDR's entity maps)

    def decoding_resources(self, raw_dir: Optional[Path], split: str, decoder: str = "original",
                           **options) -> Optional[object]:
        """What decoding a split needs besides the generated lines (BC5CDR: the name -> MeSH id maps),
        with a `for_document(id)` method; `raw_dir` is the split's raw folder where the spec reads raw
        data and a data directory was given, else None; `options` are the values of `decoding_options`."""
        return None

    def decoding_summary(self, rows: List[dict]) -> str:
        """What postprocess adds to its count of decoded rows (BC5CDR: relations and unmapped names)."""
        return ""

    # The original postprocess's own file, HYPOTHESES.extracted.<this>, which its scorer reads.
    original_extension = ""

    def original_lines(self, predictions: List[dict]) -> Iterator[str]:
        """Decoded rows as the original's postprocess writes them, lines with their newlines."""
        raise NotImplementedError

    def original_row(self, line: str) -> dict:
        """A line of the original postprocess's file (what `original_lines` writes) as the decoded row it
        stands for, with what scoring reads: evaluate scores the file the original's scorer reads."""
        raise NotImplementedError

    def prompt_prefixes(self, layout: PromptLayout = DEFAULT_LAYOUT) -> Tuple[str, ...]:
        """The original postprocess's prefix patterns, in its order: the run of the model's learned prompt
        tokens (its layout's stem), then the hard prompts."""
        return (layout.learned_regex,) + self.hard_prompts

    def decode(self, line: str, decoder: str = "original", resources=None, source: str = "",
               variant: str = "default", layout: PromptLayout = DEFAULT_LAYOUT) -> Decoded:
        """One generated line: `resources` are this document's (`decoding_resources(...).for_document`),
        `source` its source text (the robust decoder's context), `layout` the model's prompt (whose
        learned tokens are stripped)."""
        raise NotImplementedError

    # --- scoring -------------------------------------------------------------------------------

    def score(self, predictions: List[dict], gold_path: Path, **options) -> dict:
        """The original scorer's figures, under its names, for predictions in test order; `options` are
        the values of `scorer_options`."""
        raise NotImplementedError

    def score_original_file(self, path: str, gold_path: Path, **options) -> Optional[Tuple[dict, set]]:
        """(figures, ids of the predicted documents) where `path` is the original postprocess's file and
        names its documents itself (BC5CDR's CID lines); None: its rows are read by `original_row`."""
        return None

    # The original's Python scorers print "\n====File:  NAME" (NAME: the predictions' file name) before
    # their report; BC5CDR's Java evaluator does not.
    scorer_names_the_file = True

    def scorer_printout(self, figures: dict, predictions_path: str) -> str:
        """What the original's scorer prints for these figures of the predictions in `predictions_path`."""
        header = f"\n====File:  {os.path.basename(predictions_path)}\n" if self.scorer_names_the_file else ""
        return header + self.report(figures) + "\n"

    def scorer_files(self, predictions: List[dict], gold_path: Path, predictions_path: str) -> Dict[str, str]:
        """{path: text} of the files the original's scorer writes beside its report (DDI's and KD-DTI's
        `*.eval_res.json`)."""
        return {}

    def gold_documents(self, gold_path: Path) -> Optional[set]:
        """The ids of the gold file's documents with a gold relation, where predictions name
        documents (their coverage is reported: the original's scorers do not say)."""
        return None

    def trivial_baseline(self, raw_dir: Path, split: str) -> Tuple[str, List[dict]]:
        """(what it is, prediction rows) of a baseline that uses no model, to read small models against."""
        raise NotImplementedError

    def headline(self, figures: dict) -> Tuple[str, float]:
        """The figure the paper reports (name, value on the original's scale)."""
        raise NotImplementedError

    def report(self, figures: dict) -> str:
        """The figures as the original's scorer prints them (PubMedQA's and HoC's: the number)."""
        return repr(self.headline(figures)[1])
