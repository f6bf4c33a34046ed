"""`make demo`: a tiny BioGPT pre-trained and fine-tuned on CPU from real data, end to end.

    python -m biogpt_fairseq.tools.demo [--data ../shared/data] [--out demo_out] [--override KEY=VALUE ...]

1. corpus: the PubMed XML excerpt plus the abstracts of the datasets'
   training splits (each dataset's spec says which); every test document is
   kept out (by PMID and by text);
2. preprocess/pretrain.sh: Moses + a small fastBPE vocabulary learned on the
   corpus, binarized into two shards and a validation set;
3. fairseq-hydra-train with hydra_configs/pretrain/tiny_cpu.yaml;
4. a PNG of the training and validation loss curves;
5. beam-search continuations of biomedical prompts;
6. for BC5CDR and PubMedQA: preprocess/finetune.sh, prompt fine-tuning with
   hydra_configs/finetune/tiny_cpu.yaml, then the original's inference chain
   (biogpt-infer: checkpoint averaging, greedy decoding, BPE removal and
   detokenization, the original's postprocess and scorer) on the test set, and
   a table beside trivial baselines and the paper's numbers;
7. mining: the fine-tuned BC5CDR model over the PubMed XML excerpt with
   `biogpt-extract --ray` on a local Ray instance, to PubTator and BioC XML.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

from biogpt_fairseq.downstream import DATASETS, get_dataset
from biogpt_fairseq.textio import UserError, atomic_output, run_cli

REPO = Path(__file__).resolve().parents[2]
PROMPTS = ["Bicalutamide", "Janus kinase 3", "COVID-19 is", "The treatment of type 2 diabetes"]
MAX_NEW_TOKENS = 48  # a cap on each answer, for time: the original decodes up to the model's positions


def _normalized(text: str) -> str:
    return " ".join(text.lower().split())


def build_task_corpus(data: Path, out: Path) -> dict:
    """Write out/task_train_docs.txt (each dataset's pre-training text) and out/test.pmids; return counts."""
    test_ids, test_texts = set(), set()
    for spec in DATASETS.values():
        for doc_id, text in spec.documents(data / spec.folder / "raw", "test"):
            test_ids.add(doc_id)
            test_texts.add(_normalized(text))
    counts = {"kept": 0, "excluded_as_test": 0}
    with atomic_output(str(out / "task_train_docs.txt")) as docs:
        for spec in DATASETS.values():
            if spec.pretraining_split is None:
                continue
            for doc_id, text in spec.documents(data / spec.folder / "raw", spec.pretraining_split):
                if doc_id in test_ids or _normalized(text) in test_texts:
                    counts["excluded_as_test"] += 1
                    continue
                docs.write(" ".join(text.split()) + "\n")
                counts["kept"] += 1
    with atomic_output(str(out / "test.pmids")) as pmids:
        pmids.writelines(f"{doc_id}\n" for doc_id in sorted(test_ids) if doc_id.isdigit())
    return counts


def run(command, log=None, cwd=REPO) -> None:
    """Run a command with its output shown live (and copied to `log`); stop on failure."""
    print("+", " ".join(str(c) for c in command), flush=True)
    quiet = {**os.environ, "PYTHONWARNINGS": "ignore"}  # library deprecation chatter, not our output
    with subprocess.Popen([str(c) for c in command], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, cwd=cwd, env=quiet) as process:
        with open(log, "w", encoding="utf-8") if log else open(os.devnull, "w") as copy:
            for line in process.stdout:
                if "tensorboardX" in line:  # fairseq's import-time hint about an optional logger
                    continue
                sys.stdout.write(line)
                copy.write(line)
    if process.returncode != 0:
        raise UserError(f"command failed ({process.returncode}): {' '.join(str(c) for c in command)}")


LOSS_LINE = re.compile(r"\]\[(train_inner|valid)\]\[INFO\] - .*?loss[= ]([0-9.]+).*?num_updates[= ](\d+)")


def loss_curves(log: Path) -> dict:
    """{'train_inner': [(update, loss)], 'valid': [...]} from fairseq's training log (base-2 loss)."""
    curves = {"train_inner": [], "valid": []}
    for match in LOSS_LINE.finditer(log.read_text(encoding="utf-8")):
        curves[match.group(1)].append((int(match.group(3)), float(match.group(2))))
    return curves


def plot_losses(curves: dict, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, label, style in [("train_inner", "training", "-"), ("valid", "validation", "o-")]:
        if curves[name]:
            updates, losses = zip(*curves[name])
            ax.plot(updates, losses, style, label=label)
    ax.set_xlabel("updates")
    ax.set_ylabel("cross-entropy (bits per token)")
    ax.set_title("Tiny BioGPT pre-training on CPU")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    plt.close(fig)


def generate(checkpoint_dir: Path, data_dir: Path, prompts, beam=5, max_len=40):
    """Continuations of `prompts` through fairseq's hub interface (Moses + fastBPE)."""
    import logging

    import biogpt_fairseq.plugin  # noqa: F401  (registers the plugin)
    from fairseq.models.transformer_lm import TransformerLanguageModel

    logging.getLogger("fairseq").setLevel(logging.WARNING)  # the hub logs its whole config at INFO
    warnings.filterwarnings("ignore", message=".*pin_memory.*")  # DataLoader's note that there is no GPU

    model = TransformerLanguageModel.from_pretrained(
        str(checkpoint_dir), "checkpoint_best.pt", str(data_dir),
        tokenizer="moses", bpe="fastbpe", bpe_codes=str(data_dir / "bpecodes"),
    )
    model.eval()
    return model.sample(prompts, beam=beam, max_len_b=max_len, no_repeat_ngram_size=3)


def finetune_and_score(name: str, data: Path, corpus: Path, pretrained: Path, out: Path, epochs: int,
                       workers: int, overrides=()) -> dict:
    """The fine-tuning half of the paper for one dataset, through the user-facing tools; its test figures."""
    from biogpt_fairseq.downstream.infer import infer

    task_dir = out / "finetune" / name
    run([REPO / "preprocess" / "finetune.sh", name, task_dir, "--data", data, "--bpe-codes", corpus / "bpecodes",
         "--dict", corpus / "dict.txt", "--workers", workers])
    checkpoints = task_dir / "checkpoints"
    shutil.rmtree(checkpoints, ignore_errors=True)
    run([Path(sys.executable).parent / "fairseq-hydra-train", "--config-dir", REPO / "hydra_configs",
         "--config-name", "finetune", "finetune=tiny_cpu", f"task.data={task_dir / 'data-bin'}",
         f"common.user_dir={REPO / 'biogpt_fairseq'}", f"checkpoint.finetune_from_model={pretrained}",
         f"checkpoint.save_dir={checkpoints}", f"optimization.max_epoch={epochs}", *overrides],
        log=task_dir / "train.log", cwd=task_dir)
    print(f"+ biogpt-infer {checkpoints} --data-bin {task_dir / 'data-bin'} --max-new-tokens {MAX_NEW_TOKENS} --cpu",
          flush=True)
    return infer(checkpoints, task_dir / "data-bin", out=task_dir / "generate", cpu=True, max_new_tokens=MAX_NEW_TOKENS)


def baseline(name: str, data: Path) -> tuple:
    """(description, figures) of the dataset's trivial baseline, scored as the model is."""
    spec = get_dataset(name)
    raw = data / spec.folder / "raw"
    what, rows = spec.trivial_baseline(raw, "test")
    return what, spec.score(rows, raw / spec.gold_files["test"])


def results_table(results: dict) -> str:
    lines = ["| dataset | metric | tiny BioGPT, this demo (CPU) | trivial baseline | BioGPT, paper (347M, GPU) |",
             "|---|---|---|---|---|"]
    for name, (figures, (what, base)) in results.items():
        spec = get_dataset(name)
        metric, _ = spec.headline(figures)
        lines.append(f"| {name} | {metric} | {_percent(figures[metric])} | {_percent(base[metric])} ({what}) | "
                     f"{spec.paper_result} |")
    return "\n".join(lines)


def _percent(value) -> str:
    return "NaN (no true positive, as the evaluator prints it)" if value != value else f"{100 * value:.2f}"


def mine(name: str, data: Path, out: Path, workers: int) -> Path:
    """The main job, small: the fine-tuned model over the PubMed XML excerpt on a local Ray instance."""
    task_dir = out / "finetune" / name
    mined = out / "mined"
    shutil.rmtree(mined, ignore_errors=True)  # a fresh run each time, not one that skips a previous run's files
    pubmed = sorted((data / "pubmed").glob("*.xml*"))
    run([Path(sys.executable).parent / "biogpt-extract", task_dir / "checkpoints", *pubmed, "--out", f"{mined}/",
         "--data-bin", task_dir / "data-bin", "--format", "pubtator", "--format", "bioc-xml",
         "--max-new-tokens", MAX_NEW_TOKENS, "--ray", "--workers", workers])
    return mined


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=os.environ.get("BIOGPT_DATA", str(REPO.parent / "shared" / "data")),
                        help="the BioGPT data mirror (default: $BIOGPT_DATA or ../shared/data)")
    parser.add_argument("--out", default=str(REPO / "demo_out"), help="where the artifacts go")
    parser.add_argument("--merges", type=int, default=4000, help="BPE merges to learn")
    parser.add_argument("--updates", type=int, default=600, help="pre-training updates")
    parser.add_argument("--workers", type=int, default=2, help="preprocessing processes")
    parser.add_argument("--finetune-epochs", type=int, default=3, help="fine-tuning epochs per task")
    parser.add_argument("--finetune-tasks", nargs="*", default=["bc5cdr", "pubmedqa"],
                        choices=sorted(DATASETS),
                        help="datasets to fine-tune and score (none: pre-training only); the first relation "
                             "dataset's model then mines PubMed")
    parser.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                        help="a hydra override for pre-training and fine-tuning alike (repeatable), e.g. "
                             "model.decoder_layers=2 for a smaller model than hydra_configs/model/tiny.yaml's")
    args = parser.parse_args(argv)
    for override in args.override:
        if "=" not in override:
            raise UserError(f"--override {override!r}: give KEY=VALUE, e.g. model.decoder_layers=2")
    data, out = Path(args.data).resolve(), Path(args.out).resolve()
    if not (data / "pubmed").is_dir():
        raise UserError(f"{data}: not the BioGPT data mirror (no pubmed/): pass --data or set BIOGPT_DATA")
    out.mkdir(parents=True, exist_ok=True)
    start = time.time()

    print("== 1. corpus: PubMed XML + task training splits (test documents excluded)", flush=True)
    counts = build_task_corpus(data, out)
    print(f"task training documents: {counts['kept']} kept, {counts['excluded_as_test']} excluded as test documents")

    print("== 2. tokenize, learn a vocabulary, binarize", flush=True)
    corpus = out / "data"
    run([REPO / "preprocess" / "pretrain.sh", corpus, *sorted((data / "pubmed").glob("*.xml*")),
         "--extra", out / "task_train_docs.txt", "--exclude-pmids", out / "test.pmids",
         "--merges", args.merges, "--shards", 2, "--valid-every", 25, "--workers", args.workers])

    print("== 3. pre-train a tiny BioGPT (fairseq-hydra-train, hydra_configs/pretrain/tiny_cpu.yaml)", flush=True)
    checkpoints = out / "checkpoints"
    shutil.rmtree(checkpoints, ignore_errors=True)  # fairseq would resume a previous run's checkpoint_last.pt
    shards = f"{corpus}/data-bin/shard0:{corpus}/data-bin/shard1"
    log = out / "train.log"
    run([Path(sys.executable).parent / "fairseq-hydra-train", "--config-dir", REPO / "hydra_configs",
         "--config-name", "pretrain", "pretrain=tiny_cpu", f"task.data={shards}",
         f"common.user_dir={REPO / 'biogpt_fairseq'}",
         f"optimization.max_update={args.updates}", f"checkpoint.save_dir={checkpoints}", *args.override],
        log=log, cwd=out)  # hydra writes its own hydra_train.log into the working directory

    print("== 4. loss curves", flush=True)
    curves = loss_curves(log)
    if not curves["train_inner"] or not curves["valid"]:
        raise UserError(f"{log}: no loss values found in the training log")
    plot_losses(curves, out / "loss.png")
    print(f"training loss {curves['train_inner'][0][1]:.2f} -> {curves['train_inner'][-1][1]:.2f}, "
          f"validation loss {curves['valid'][0][1]:.2f} -> {curves['valid'][-1][1]:.2f} (bits per token)")

    print("== 5. generation (beam 5)", flush=True)
    continuations = generate(checkpoints, corpus, PROMPTS)
    with atomic_output(str(out / "generations.txt")) as handle:
        for prompt, text in zip(PROMPTS, continuations):
            print(f"  {prompt!r} -> {text}")
            handle.write(f"{prompt}\t{text}\n")

    results = {}
    for task in args.finetune_tasks:
        print(f"== 6. fine-tune, generate, decode and score: {task}", flush=True)
        metrics = finetune_and_score(task, data, corpus, checkpoints / "checkpoint_best.pt", out,
                                     args.finetune_epochs, args.workers, args.override)
        results[task] = (metrics, baseline(task, data))
    if results:
        table = results_table(results)
        with atomic_output(str(out / "results.md")) as handle:
            handle.write(table + "\n\nThe tiny model is fine-tuned for a few CPU minutes and decodes greedily, as the "
                         f"original's inference does, with answers capped at {MAX_NEW_TOKENS} tokens; the paper's "
                         "model is 347M parameters fine-tuned on GPU. The baselines use no model.\n")
        print("\n" + table)
    mined = None
    miner = next((task for task in results if get_dataset(task).kind == "triples"), None)
    if miner is not None:
        print(f"== 7. mining PubMed: the {get_dataset(miner).folder} model over the PubMed XML excerpt on Ray "
              "(biogpt-extract --ray)", flush=True)
        mined = mine(miner, data, out, args.workers)

    print(f"\nDone in {time.time() - start:.0f} s. Artifacts:")
    for name, what in [("data/data-bin", "binarized shards"), ("data/bpecodes", "learned BPE codes"),
                       ("data/dict.txt", "dictionary"), ("checkpoints/checkpoint_best.pt", "model"),
                       ("train.log", "fairseq training log"), ("loss.png", "loss curves"),
                       ("generations.txt", "generated continuations")] + \
            [(f"finetune/{t}", f"{t}: data, checkpoints, test generations and predictions") for t in results] + \
            ([("results.md", "the table above")] if results else []) + \
            ([(str(path.relative_to(out)), "mining's manifest" if path.name == "manifest.json" else
               f"mined {miner} relations") for path in sorted(mined.iterdir())] if mined else []):
        print(f"  {out / name}  ({what})")
    return 0


if __name__ == "__main__":
    run_cli(main)
