"""The figures of a bench/gpu/run.sh run, from its logs: OUT/summary.json, and a short table on stdout.

    python bench/gpu/summarize.py OUT DETAILS [--device cuda] [--scale full]

Reads OUT/<step>.log and DETAILS (steps.tsv, comparison.json, generation.json); writes
OUT/summary.json and DETAILS/loss.png (the tiny pre-training's loss and loss scale by update).
The 8-GPU estimate is the paper's budget, 200,000 updates of 524,288 tokens, over 8 times the
tokens per second one GPU trained at here: linear scaling, no communication cost counted.
"""
import argparse
import json
import re
import statistics
from pathlib import Path

PAPER_UPDATES, PAPER_TOKENS_PER_UPDATE, PAPER_GPUS = 200_000, 524_288, 8
# fairseq's simple format: "epoch 001:     10 / 31 loss=9.1, ppl=..., wps=...," (train_inner) and
# "epoch 001 | loss 9.1 | ppl ... | num_updates 31" (an epoch's or validation's stats)
INNER = re.compile(r"\]\[train_inner\]\[INFO\] - epoch (\d+):.*?((?:\w+=[^,]+,? ?)+)$")
STATS = re.compile(r"\]\[(train|valid)\]\[INFO\] - epoch (\d+) \|(.*)$")


def fields(text: str, separator: str) -> dict:
    out = {}
    for part in text.split(separator):
        pieces = part.strip().split("=" if separator == "," else None, 1)
        if len(pieces) == 2:
            key, value = pieces[0].strip(), pieces[1].strip()
            try:
                out[key] = float(value)
            except ValueError:
                out[key] = value
    return out


def training_log(text: str) -> dict:
    inner = [fields(m.group(2), ",") for m in map(INNER.search, text.splitlines()) if m]
    stats = []
    for m in map(STATS.search, text.splitlines()):
        if m:
            stats.append({"kind": m.group(1), "epoch": int(m.group(2)), **fields(m.group(3), "|")})
    peaks = [json.loads(line.split(" ", 1)[1]) for line in text.splitlines() if line.startswith("PEAK_MEMORY ")]
    return {"inner": inner, "stats": stats, "peaks": peaks,
            "overflows": len(re.findall(r"gradient overflow detected", text)),
            "loaded": re.findall(r"Loaded checkpoint (\S+) \(epoch (\d+) @ (\d+) updates\)", text)}


def pretrain_tiny(log: dict, text: str) -> dict:
    inner = log["inner"]
    losses = [(row.get("num_updates"), row.get("loss"), row.get("loss_scale")) for row in inner]
    train_stats = [s for s in log["stats"] if s["kind"] == "train"]
    return {
        "losses_by_update": losses,
        "first_logged_loss": losses[0][1] if losses else None,
        "last_logged_loss": losses[-1][1] if losses else None,
        "loss_fell": bool(losses) and losses[-1][1] < losses[0][1],
        "loss_scales_seen": sorted({s for _, _, s in losses if s is not None}),
        "gradient_overflows_skipped": log["overflows"],
        "resumed_from": [{"checkpoint": c, "epoch": int(e), "updates": int(u)} for c, e, u in log["loaded"]],
        "final_updates": train_stats[-1].get("num_updates") if train_stats else None,
        "valid_losses": [s.get("loss") for s in log["stats"] if s["kind"] == "valid"],
        "chunked_cross_entropy_failed": "CHUNKED_CROSS_ENTROPY_FAILED" in text,
        "peak_memory": log["peaks"],
    }


def pretrain_full(log: dict) -> dict:
    rates = [row["wps"] for row in log["inner"] if isinstance(row.get("wps"), float)]
    steady = rates[1:] or rates  # the first interval holds the warm-up (allocation, kernel choice)
    if not steady:  # fewer updates than one log interval: the epoch's average (warm-up included)
        steady = [s["wps"] for s in log["stats"] if s["kind"] == "train" and isinstance(s.get("wps"), float)]
    figures = {"tokens_per_s_by_interval": rates, "peak_memory": log["peaks"],
               "gb_free": [row.get("gb_free") for row in log["inner"]],
               "losses": [row.get("loss") for row in log["inner"]], "overflows": log["overflows"]}
    if steady:
        rate = statistics.median(steady)
        seconds = PAPER_UPDATES * PAPER_TOKENS_PER_UPDATE / (PAPER_GPUS * rate)
        figures.update(tokens_per_s_one_gpu=rate, paper_run_on_8_such_gpus_days=round(seconds / 86400, 2),
                       paper_run_on_8_such_gpus_hours=round(seconds / 3600, 1))
    return figures


def finetune(log: dict, text: str, details: Path) -> dict:
    figures = {"epochs": [{k: s.get(k) for k in ("epoch", "loss", "num_updates", "loss_scale", "wps")}
                          for s in log["stats"] if s["kind"] == "train"],
               "valid": [{k: s.get(k) for k in ("epoch", "loss")} for s in log["stats"] if s["kind"] == "valid"],
               "overflows": log["overflows"], "peak_memory": log["peaks"],
               "infer_dtype_failed": re.findall(r"INFER_DTYPE_FAILED (\w+)", text),
               "command_seconds": [float(m) * 60 + float(s) for m, s in re.findall(r"^real\s+(\d+)m([\d.]+)s", text, re.M)]}
    comparison = details / "comparison.json"
    if comparison.is_file():
        figures["comparison"] = json.loads(comparison.read_text())
    return figures


def loss_figure(tiny: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [(u, l, s) for u, l, s in tiny["losses_by_update"] if u is not None and l is not None]
    if not rows:
        return
    figure, axis = plt.subplots(figsize=(6, 3.5))
    axis.plot([u for u, _, _ in rows], [l for _, l, _ in rows], marker="o", label="train loss (base 2)")
    axis.set_xlabel("update")
    axis.set_ylabel("loss")
    scales = [(u, s) for u, _, s in rows if isinstance(s, float)]
    if scales:
        other = axis.twinx()
        other.plot([u for u, _ in scales], [s for _, s in scales], color="gray", linestyle="--", label="loss scale")
        other.set_yscale("log", base=2)
        other.set_ylabel("fp16 loss scale")
    axis.set_title("tiny BioGPT pre-training on the GPU, fp16")
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("details", type=Path)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--scale", default="full")
    args = parser.parse_args()

    def text(step):
        path = args.out / f"{step}.log"
        return path.read_text(errors="replace") if path.is_file() else ""

    summary = {"device": args.device, "scale": args.scale, "steps": {}}
    steps = args.details / "steps.tsv"
    if steps.is_file():
        for line in steps.read_text().splitlines():
            name, rc, seconds = line.split("\t")
            summary["steps"][name] = {"exit": rc, "seconds": int(seconds), "ok": rc == "0"}
    install = text("install")
    summary["install"] = {"ok": "INSTALL_OK" in install, "numpy_fallback": "NUMPY_FALLBACK" in install,
                          "versions": re.findall(r"^(numpy|torch|fairseq|transformers) (\S+)", install, re.M)}
    tests = re.findall(r"^=*\s*(\d+ (?:passed|failed|skipped|error).*?)\s*=*$", text("tests"), re.M)
    summary["tests"] = {"result": tests[-1] if tests else None,
                        "failed": re.findall(r"^FAILED (\S+)", text("tests"), re.M)}
    summary["pretrain_tiny"] = tiny = pretrain_tiny(training_log(text("pretrain_tiny")), text("pretrain_tiny"))
    paper_batches, _, wide = text("pretrain_full").partition("=== WIDE_BATCH")
    summary["pretrain_full"] = pretrain_full(training_log(paper_batches))
    summary["pretrain_full_wide_batch"] = pretrain_full(training_log(wide))
    summary["finetune"] = finetune(training_log(text("finetune")), text("finetune"), args.details)
    generation = args.details / "generation.json"
    summary["generation"] = json.loads(generation.read_text()) if generation.is_file() else None
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    try:
        loss_figure(tiny, args.details / "loss.png")
    except Exception as err:  # noqa: BLE001  (the figure is a convenience; the numbers are in summary.json)
        print(f"loss figure: {err}")

    print("\n=== summary (" + args.device + ", " + args.scale + ")")
    for name, step in summary["steps"].items():
        print(f"  {name:14} {'ok' if step['ok'] else 'FAILED exit ' + str(step['exit']):14} {step['seconds']:4d} s")
    print(f"  install: {summary['install']}")
    print(f"  tests: {summary['tests']['result']}; failed: {summary['tests']['failed']}")
    print(f"  pretrain_tiny: loss {tiny['first_logged_loss']} -> {tiny['last_logged_loss']}, scales "
          f"{tiny['loss_scales_seen']}, overflows {tiny['gradient_overflows_skipped']}, resumed "
          f"{tiny['resumed_from']}, final updates {tiny['final_updates']}")
    for name in ("pretrain_full", "pretrain_full_wide_batch"):
        full = summary[name]
        print(f"  {name}: {full.get('tokens_per_s_one_gpu')} tokens/s, peak {full['peak_memory']}, "
              f"paper's run on 8 such GPUs: {full.get('paper_run_on_8_such_gpus_days')} days")
    comparison = summary["finetune"].get("comparison", {})
    for name, entry in comparison.get("infer", {}).items():
        print(f"  {name}: {entry.get('lines_agreeing_with_cpu_fp32')}/{entry.get('lines')} lines as on the CPU, "
              f"scores {entry.get('scores')}, equal {entry.get('scores_equal_to_cpu_fp32')}")
    for name, entry in comparison.get("extract", {}).items():
        print(f"  {name}: {entry}")
    if summary["generation"]:
        for f in summary["generation"]["results"]:
            print(f"  gen {f['dtype']} {f['workload']}: ours {f.get('ours_tokens_per_s')} HF {f.get('hf_tokens_per_s')} "
                  f"stock {f.get('fairseq_stock_tokens_per_s', '-')} tok/s; MiB ours {f.get('ours_peak_mib_over_weights')} "
                  f"HF {f.get('hf_peak_mib_over_weights')}; same as HF {f.get('sequences_identical_to_hf')}")
        for note in summary["generation"]["notes"]:
            print(f"  NOTE {note}")


if __name__ == "__main__":
    main()
