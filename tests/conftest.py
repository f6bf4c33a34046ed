"""Shared fixtures: the data mirror, the repository, and helpers to run the tools."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# One thread a process, for the tests and the tools they start (unless the environment sets it): a tiny
# model gains nothing from a second thread, and on two busy cores the threads wait on each other (the
# generator's tests on a random tiny model took 54 CPU seconds with 2 threads, 7 with 1, on a loaded
# 2-core machine). Set before anything imports torch.
for _threads in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_threads, "1")

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the venv's commands (fairseq-train, torchrun, ...)


def data_dir() -> Path:
    path = Path(os.environ.get("BIOGPT_DATA", REPO.parent / "shared" / "data"))
    if not (path / "biogpt" / "dict.txt").exists():
        raise RuntimeError(f"BioGPT data not found at {path}: set BIOGPT_DATA or put ../shared beside the repo")
    return path


@pytest.fixture(scope="session")
def data() -> Path:
    return data_dir()


# --- the fast tier (-m fast, make test-fast): tiny models made in memory, never the data mirror -------

MIRROR = Path(os.environ.get("BIOGPT_DATA", REPO.parent / "shared" / "data")).resolve()
_in_a_fast_test = False


def pytest_collection_modifyitems(items):
    """A fast test may not reach the mirror through a fixture (the pipeline-built models all need it)."""
    for item in items:
        if item.get_closest_marker("fast") and "data" in item.fixturenames:
            raise pytest.UsageError(f"{item.nodeid} is marked fast but needs the data mirror (its fixtures: "
                                    f"{', '.join(item.fixturenames)})")


def _refuse_the_mirror_in_fast_tests(event, args):
    # an audit hook stays for the life of the process: it acts only while a fast test runs
    if _in_a_fast_test and event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        path = Path(os.path.abspath(os.fsdecode(args[0])))
        if path == MIRROR or MIRROR in path.parents:
            raise RuntimeError(f"{path}: a test marked fast opened a file of the data mirror")


sys.addaudithook(_refuse_the_mirror_in_fast_tests)


@pytest.fixture(autouse=True)
def _fast_tests_stay_off_the_mirror(request, monkeypatch):
    """In a fast test, opening a file under the mirror fails, and so does finding it through $BIOGPT_DATA
    (the tools run as subprocesses see no mirror there)."""
    global _in_a_fast_test
    if not request.node.get_closest_marker("fast"):
        yield
        return
    monkeypatch.setenv("BIOGPT_DATA", str(REPO / "tests" / "no-data-mirror-in-fast-tests"))
    _in_a_fast_test = True
    try:
        yield
    finally:
        _in_a_fast_test = False


def run_tool(*args, stdin=None, check=True, env=None, cwd=REPO):
    """Run a command-line entry point the way a user does; return the CompletedProcess."""
    args = [str(a) for a in args]
    if args[0].startswith("biogpt_fairseq."):
        args = [sys.executable, "-m", *args]
    elif args[0].startswith("fairseq-"):
        args = [str(BIN / args[0]), *args[1:]]
    result = subprocess.run(args, input=stdin, capture_output=True, cwd=cwd,
                            env={**os.environ, **(env or {})})
    if check and result.returncode != 0:
        raise AssertionError(f"{args} failed ({result.returncode}):\n{result.stderr.decode()[-3000:]}")
    return result


def built_once(tmp_path_factory, name: str, build) -> Path:
    """The folder `name` that `build(folder)` fills, made once for the whole run: pytest-xdist's workers
    (make test runs two) share it through a file lock, the first to ask building it while the others wait."""
    from filelock import FileLock

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # (the workers' basetemps are its subfolders)
    folder = root / name
    with FileLock(str(folder) + ".lock"):
        if not (folder / ".built").exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            build(folder)
            (folder / ".built").touch()
    return folder


class _DictionaryTask:
    def __init__(self, dictionary):
        self.source_dictionary = self.target_dictionary = dictionary


def build_lm(arch, dictionary, **overrides):
    """A fairseq language model of `arch` (of the model class the architecture is registered under)
    over `dictionary`, and its settings (under `torch.device("meta")` for the shapes alone)."""
    import argparse

    from fairseq.models import ARCH_CONFIG_REGISTRY, ARCH_MODEL_REGISTRY

    import biogpt_fairseq.plugin  # noqa: F401  (registers the plugin)

    args = argparse.Namespace(arch=arch, **overrides)
    ARCH_CONFIG_REGISTRY[arch](args)
    return ARCH_MODEL_REGISTRY[arch].build_model(args, _DictionaryTask(dictionary)), args


def task_abstracts(data: Path, limit_per_split=None):
    """Title + abstract of the BC5CDR, DDI and KD-DTI documents (real biomedical text)."""
    texts = []
    for name in ["BC5CDR/raw/test.json", "DDI/raw/test.json", "KD-DTI/raw/test.json"]:
        docs = json.loads((data / name).read_text())
        for doc in list(docs.values())[:limit_per_split]:
            texts.append(" ".join(filter(None, [doc.get("title", ""), doc["abstract"]])).strip())
    return texts


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory, data) -> Path:
    """preprocess/pretrain.sh run on the real PubMed XML: a small learned vocabulary, 2 shards."""
    def build(out):
        run_tool(REPO / "preprocess" / "pretrain.sh", out, *sorted((data / "pubmed").glob("*.xml*")),
                 "--merges", 300, "--shards", 2, "--valid-every", 10, "--workers", 2)
    return built_once(tmp_path_factory, "tiny_corpus", build)


TINY_MODEL = ["--decoder-layers", 2, "--decoder-embed-dim", 64, "--decoder-ffn-embed-dim", 128,
              "--decoder-attention-heads", 2]


@pytest.fixture(scope="session")
def tiny_pretrained(tiny_corpus, tmp_path_factory) -> Path:
    """A tiny BioGPT-shaped LM pre-trained for a few updates on `tiny_corpus` (its checkpoint)."""
    def build(save_dir):
        run_tool("fairseq-train", tiny_corpus / "data-bin" / "shard0", "--user-dir", REPO / "biogpt_fairseq",
                 "--task", "language_modeling", "--arch", "transformer_lm_biogpt_tiny", *TINY_MODEL,
                 "--tokens-per-sample", 512, "--sample-break-mode", "none", "--batch-size", 8, "--optimizer", "adam",
                 "--lr", 1e-3, "--max-update", 5, "--save-dir", save_dir, "--no-epoch-checkpoints", "--cpu",
                 "--num-workers", 0, "--disable-validation")
    return built_once(tmp_path_factory, "tiny_pretrained", build) / "checkpoint_last.pt"


def finetune_data(dataset: str, tiny_corpus: Path, tmp_path_factory, data: Path) -> Path:
    """preprocess/finetune.sh `dataset` over the tiny corpus' vocabulary, built once for the run (its
    raw/, bpe/ and data-bin/)."""
    def build(out):
        run_tool(REPO / "preprocess" / "finetune.sh", dataset, out, "--data", data,
                 "--bpe-codes", tiny_corpus / "bpecodes", "--dict", tiny_corpus / "dict.txt")
    return built_once(tmp_path_factory, f"finetune-{dataset}", build)


@pytest.fixture(scope="session")
def pubmedqa_data(tiny_corpus, tmp_path_factory, data):
    """preprocess/finetune.sh pubmedqa over the tiny corpus' vocabulary."""
    return finetune_data("pubmedqa", tiny_corpus, tmp_path_factory, data)


def finetune(data_bin, pretrained, save_dir, *extra, check=True):
    """fairseq-train a tiny prompt model from `pretrained` on a binarized pair (x -> y)."""
    return run_tool(
        "fairseq-train", data_bin, "--user-dir", REPO / "biogpt_fairseq", "--task", "language_modeling_prompt",
        "--source-lang", "x", "--target-lang", "y", "--arch", "transformer_lm_prompt_biogpt_tiny", *TINY_MODEL,
        "--finetune-from-model", pretrained, "--tokens-per-sample", 512, "--max-source-positions", 400,
        "--batch-size", 8, "--optimizer", "adam", "--lr", 1e-3, "--save-dir", save_dir, "--cpu",
        "--num-workers", 0, "--log-format", "simple", "--log-interval", 1, *extra,
        check=check)


# fairseq-generate of a tiny prompt model, greedy on CPU
GENERATE = ["--user-dir", REPO / "biogpt_fairseq", "--task", "language_modeling_prompt", "--cpu", "--beam", 1]

# dropout off: each run (each process) draws its own masks, so only a deterministic model compares exactly
DETERMINISTIC = ["--dropout", 0, "--attention-dropout", 0, "--seed", 1, "--cpu", "--num-workers", 0,
                 "--log-format", "simple", "--log-interval", 1, "--no-epoch-checkpoints"]


def weights_with_a_gradient(model: dict) -> list:
    """The names of a trained model's weights less the keys' biases. A key's bias has a gradient of zero
    in exact arithmetic (softmax ignores what it adds to every score of a query); Adam divides its
    rounding noise (about 4e-11) by epsilon (1e-8), so each run moves it by its own noise, and two runs
    that round a little differently end with these biases apart where every other weight agrees."""
    names = [name for name in model if not name.endswith("k_proj.bias")]
    assert len(names) > len(model) / 2
    return names


def tiny_training_command(what, tiny_corpus, tiny_pretrained, pubmedqa_data):
    """fairseq-train of a tiny model for 6 updates, deterministic: "pretraining" on the tiny corpus or
    "prompt fine-tuning" on PubMedQA (the loss on the target only)."""
    if what == "pretraining":
        command = ["fairseq-train", tiny_corpus / "data-bin" / "shard0", "--task", "language_modeling",
                   "--arch", "transformer_lm_biogpt_tiny", "--tokens-per-sample", 64, "--sample-break-mode", "none"]
    else:
        command = ["fairseq-train", pubmedqa_data / "data-bin", "--task", "language_modeling_prompt",
                   "--source-lang", "x", "--target-lang", "y", "--learned-prompt", 9,
                   "--arch", "transformer_lm_prompt_biogpt_tiny", "--finetune-from-model", tiny_pretrained,
                   "--tokens-per-sample", 512, "--max-source-positions", 400]
    return command + ["--user-dir", REPO / "biogpt_fairseq", *TINY_MODEL, "--batch-size", 4, "--optimizer", "adam",
                      "--lr", 1e-3, "--max-update", 6, "--disable-validation", *DETERMINISTIC]


@pytest.fixture(scope="session")
def tiny_prompt_model(pubmedqa_data, tiny_pretrained, tmp_path_factory) -> Path:
    """A tiny PubMedQA prompt model (learned prompt of 9 tokens), fine-tuned for 2 updates: its checkpoint."""
    def build(save_dir):
        finetune(pubmedqa_data / "data-bin", tiny_pretrained, save_dir, "--learned-prompt", 9, "--max-update", 2,
                 "--disable-validation", "--no-epoch-checkpoints")
    return built_once(tmp_path_factory, "tiny_prompt_model", build) / "checkpoint_last.pt"


# DDI's interactions under labels the model has never seen
NEW_LABELS = {"advise": "precaution", "effect": "effect modification", "mechanism": "pharmacokinetic change",
              "int": "unspecified interaction"}
MAX_SOURCE = 64  # source tokens the tiny model reads: keeps its generation quick


@pytest.fixture(scope="session")
def custom_model(tiny_corpus, tiny_pretrained, tmp_path_factory, data):
    """A custom JSON-lines relation dataset (DDI's documents, new labels), built, binarized and fine-tuned
    for a few updates: (its data-bin, its checkpoint directory, the dataset folder)."""
    def build(root):
        for split in ("train", "valid", "test"):
            records = json.loads((data / "DDI" / "raw" / f"{split}.json").read_text())
            with open(root / f"{split}.jsonl", "w", encoding="utf-8") as out:
                for doc_id, record in list(records.items())[: 120 if split == "train" else None]:
                    relations = [{"head": t["drug"], "relation": NEW_LABELS[t["interaction"]], "tail": t["target"]}
                                 for t in record["triples"] or []]
                    out.write(json.dumps({"id": doc_id, "text": record["abstract"], "relations": relations}) + "\n")
        (root / "interactions.yaml").write_text(
            "name: drug-interactions\nkind: relations\ntemplate: rel-is\n"
            "files: {train: train.jsonl, valid: valid.jsonl, test: test.jsonl}\n")
        run_tool(REPO / "preprocess" / "finetune.sh", root / "interactions.yaml", root / "built",
                 "--bpe-codes", tiny_corpus / "bpecodes", "--dict", tiny_corpus / "dict.txt")
        run_tool("fairseq-hydra-train", "--config-dir", REPO / "hydra_configs", "--config-name", "finetune",
                 "finetune=tiny_cpu", f"task.data={root / 'built' / 'data-bin'}",
                 f"common.user_dir={REPO / 'biogpt_fairseq'}",
                 f"checkpoint.finetune_from_model={tiny_pretrained}", f"checkpoint.save_dir={root / 'ckpt'}",
                 "optimization.max_update=4", f"task.max_source_positions={MAX_SOURCE}",
                 *[f"model.{k[2:].replace('-', '_')}={v}" for k, v in zip(TINY_MODEL[::2], TINY_MODEL[1::2])],
                 f"hydra.job_logging.handlers.file.filename={root}/hydra_train.log", cwd=root)
    root = built_once(tmp_path_factory, "custom_relations", build)
    return root / "built" / "data-bin", root / "ckpt", root
