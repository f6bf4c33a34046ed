"""Compare the fine-tuned model's outputs on the device with the same checkpoint's on the CPU in fp32.

    python bench/gpu/compare_runs.py DETAILS_DIR DEVICE

DETAILS_DIR holds biogpt-infer's output folders (infer_DEVICE, infer_cpu_fp32, and on CUDA
infer_cuda_fp16, infer_cuda_bf16) and biogpt-extract's files (extract_DEVICE.jsonl,
extract_cpu_fp32.jsonl). Greedy decoding on another device (other kernels, other rounding) may pick
another token where two are nearly tied: so the figure is how many generated lines agree token for
token, and the scores of each. Where every line agrees the scores must be equal; a difference there
is a bug, reported as SCORES_DIFFER_WITH_THE_SAME_TOKENS. Writes DETAILS_DIR/comparison.json.
"""
import json
import sys
from pathlib import Path


def infer_outputs(folder: Path):
    """(generated lines, scores) of one biogpt-infer run, or None where it wrote none."""
    generated = [p for p in folder.glob("generate_*") if "." not in p.name.replace(".pt", "")]
    scores = list(folder.glob("*.scores.json"))
    if not generated or not scores:
        return None
    return generated[0].read_text().splitlines(), json.loads(scores[0].read_text())


def main() -> None:
    details, device = Path(sys.argv[1]), sys.argv[2]
    reference = infer_outputs(details / "infer_cpu_fp32")
    comparison = {"reference": "infer_cpu_fp32", "infer": {}, "extract": {}}
    for folder in sorted(details.glob("infer_*")):
        run = infer_outputs(folder)
        entry = comparison["infer"][folder.name] = {"wrote": run is not None}
        if run is None or reference is None:
            continue
        lines, scores = run
        agree = sum(a == b for a, b in zip(lines, reference[0]))
        entry.update(lines=len(lines), lines_agreeing_with_cpu_fp32=agree, scores=scores,
                     scores_equal_to_cpu_fp32=scores == reference[1])
        if agree == len(lines) == len(reference[0]) and scores != reference[1]:
            entry["error"] = "SCORES_DIFFER_WITH_THE_SAME_TOKENS"
    cpu = details / "extract_cpu_fp32.jsonl"
    for path in sorted(details.glob("extract_*.jsonl")):
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        entry = comparison["extract"][path.name] = {"documents": len(rows)}
        if cpu.is_file() and path != cpu:
            reference_rows = [json.loads(line) for line in cpu.read_text().splitlines()]
            entry["documents_agreeing_with_cpu_fp32"] = sum(a == b for a, b in zip(rows, reference_rows))
            entry["same_documents_in_the_same_order"] = (
                [r.get("id") for r in rows] == [r.get("id") for r in reference_rows])
    (details / "comparison.json").write_text(json.dumps(comparison, indent=1))
    print("COMPARISON " + json.dumps(comparison))
    if any("error" in e for e in comparison["infer"].values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
