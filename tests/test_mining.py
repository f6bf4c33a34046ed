"""Many files, one command, on a real local Ray instance: the same outputs as single-process extraction,
a killed worker and a killed driver lose nothing and redo only what was unfinished, a changed input is
redone, a file that cannot be read is reported while the others finish."""
import gzip
import json
import os
import re
import signal
import subprocess
import sys
import time

import psutil
import pytest
from conftest import BIN

from biogpt_fairseq.downstream.extraction import settings_differ
from biogpt_fairseq.downstream.mining import MANIFEST, MANIFEST_FORMAT, Job, read_manifest, run_job
from biogpt_fairseq.textio import UserError

FORMATS = ("jsonl", "pubtator")
PUBMED_CITATIONS = 120
WORKER_TITLE = "ExtractionWorker"  # in the process title Ray gives each actor of the pool


@pytest.mark.fast
def test_a_run_from_before_a_setting_existed_resumes_under_its_default_only(tmp_path):
    """A manifest (or journal) written before `beam_ranking` existed ran fairseq's ranking."""
    before = {k: v for k, v in Job(model="m").settings().items() if k != "beam_ranking"}
    (tmp_path / MANIFEST).write_text(json.dumps({"format": MANIFEST_FORMAT, "settings": before,
                                                 "files": {"a.txt": {"documents": 3}}}))
    assert read_manifest(tmp_path, Job(model="m").settings()) == {"a.txt": {"documents": 3}}
    with pytest.raises(UserError, match="beam_ranking: 'fairseq' before, 'engine' now"):
        read_manifest(tmp_path, Job(model="m", beam_ranking="engine").settings())
    assert settings_differ(before, {**before, "beam": 5}) == ["beam: 1 before, 5 now"]


@pytest.fixture(scope="module")
def inputs(data, tmp_path_factory):
    """250 real abstracts over five files: PubMed XML (the mirror's excerpt cut after 120 citations,
    gzipped), JSON lines, PubTator, plain text, and a BioC file that cannot be read (its XML is cut off)."""
    root = tmp_path_factory.mktemp("mining_inputs")
    with gzip.open(data / "pubmed" / "medline16n0902.xml.gz", "rt", encoding="utf-8") as handle:
        pubmed = handle.read()
    cut = [match.start() for match in re.finditer("<MedlineCitation ", pubmed)][PUBMED_CITATIONS]
    with gzip.open(root / "medline16n0902.xml.gz", "wt", encoding="utf-8") as handle:
        handle.write(pubmed[:cut] + "</MedlineCitationSet>\n")
    records = json.loads((data / "BC5CDR" / "raw" / "train.json").read_text())
    (root / "bc5cdr.jsonl").write_text("".join(json.dumps({"id": key, "title": r["title"], "abstract": r["abstract"]})
                                               + "\n" for key, r in list(records.items())[:60]))
    pubtator = (data / "BC5CDR" / "raw" / "CDR_TestSet.PubTator.txt").read_text(encoding="utf-8").split("\n\n")
    (root / "cdr.pubtator").write_text("\n\n".join(pubtator[:30]) + "\n")
    kd_dti = json.loads((data / "KD-DTI" / "raw" / "test.json").read_text())
    (root / "kd-dti.txt").write_text("".join(r["abstract"].replace("\n", " ") + "\n"
                                             for r in list(kd_dti.values())[:40]))
    (root / "cut.xml").write_text('<?xml version="1.0"?>\n<collection><source>x</source>\n<document><id>1</id>\n')
    return [str(root / name) for name in ("medline16n0902.xml.gz", "bc5cdr.jsonl", "cdr.pubtator", "kd-dti.txt",
                                          "cut.xml")]


@pytest.fixture(scope="module")
def job(custom_model):
    data_bin, checkpoints, _ = custom_model
    return Job(model=str(checkpoints / "checkpoint_last.pt"), data_bin=str(data_bin), max_new_tokens=4,
               batch_docs=16, formats=FORMATS)


@pytest.fixture(scope="module")
def reference(job, inputs, tmp_path_factory):
    """Single-process extraction of every input (what the Ray runs must equal): its directory and files."""
    out = tmp_path_factory.mktemp("single_process")
    files = run_job(job, inputs, str(out), progress=False)
    return out, files


@pytest.fixture(scope="module")
def ray_address():
    """One local Ray instance (2 CPUs, a small object store) that every Ray job of this module joins."""
    import ray

    context = ray.init(num_cpus=2, object_store_memory=200 * 2 ** 20, include_dashboard=False, log_to_driver=False)
    yield context.address_info["gcs_address"]
    ray.shutdown()


def command(job, inputs, out, address, *options):
    return [str(BIN / "biogpt-extract"), job.model, *inputs, "--out", f"{out}/", "--data-bin", job.data_bin,
            "--max-new-tokens", str(job.max_new_tokens), "--batch-docs", str(job.batch_docs),
            *[option for fmt in job.formats for option in ("--format", fmt)], "--ray", address, *options]


def finished_files(out):
    try:
        return json.loads((out / MANIFEST).read_text())["files"]
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def workers():
    return {p.pid for p in psutil.process_iter(["cmdline"]) if WORKER_TITLE in " ".join(p.info["cmdline"] or [])}


def outputs_of(out):
    return {path.name: path.read_bytes() for path in out.iterdir() if path.name != MANIFEST}


def same_entries(files, reference_files):
    """Manifest entries the same but for the run's own figures."""
    figures = ("seconds", "generation_seconds")
    return {k: {f: v for f, v in e.items() if f not in figures} for k, e in files.items()} == \
        {k: {f: v for f, v in e.items() if f not in figures} for k, e in reference_files.items()}


def test_the_reference_run_reports_the_unreadable_file_and_finishes_the_others(reference, inputs):
    out, files = reference
    assert sorted(outputs_of(out)) == sorted(f"{name}.{ext}" for name in ("medline16n0902", "bc5cdr", "cdr", "kd-dti")
                                             for ext in FORMATS)
    pubmed = files[inputs[0]]
    assert pubmed["documents"] == pubmed["statuses"]["ok"] == PUBMED_CITATIONS and len(pubmed["sha256"]) == 64
    assert [files[path]["documents"] for path in inputs[1:4]] == [60, 30, 40]
    assert files[inputs[4]]["error"].startswith(f"{inputs[4]}:4:")  # the file and line, as single-file extraction
    rows = [json.loads(line) for line in (out / "bc5cdr.jsonl").read_text().splitlines()]
    assert [r["index"] for r in rows] == list(range(60)) and all(r["generated"] for r in rows)


def test_on_ray_the_outputs_equal_single_process_and_a_killed_worker_loses_nothing(job, inputs, reference,
                                                                                  ray_address, tmp_path):
    out = tmp_path / "mined"
    process = subprocess.Popen(command(job, inputs, out, ray_address, "--workers", "2", "--threads-per-worker", "1"),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline, killed = time.time() + 120, None
    while process.poll() is None and time.time() < deadline:
        started = workers()
        if len(started) == 2 and list(out.glob("*.ray-partial.jsonl")):  # both generating, results coming in
            killed = min(started)
            os.kill(killed, signal.SIGKILL)
            break
        time.sleep(0.05)
    assert killed is not None, "no worker to kill"
    done_at_kill = len(finished_files(out))
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 2, stderr[-3000:]  # the unreadable file
    assert done_at_kill < len(inputs) - 1  # killed mid-run
    files = finished_files(out)
    assert same_entries(files, reference[1])  # every document once: counts, statuses, checksums
    assert outputs_of(out) == outputs_of(reference[0])  # the same records, in the same order
    assert "mining: 4/5 files, 1 failed" in stderr and f"error: {inputs[4]}: not extracted" in stderr
    assert files[inputs[0]]["new_tokens"] > 0


def test_a_killed_driver_redoes_only_unfinished_files_and_a_changed_input_is_redone(job, inputs, reference,
                                                                                   ray_address, tmp_path):
    out = tmp_path / "mined"
    run = command(job, inputs, out, ray_address, "--workers", "1", "--threads-per-worker", "1")
    process = subprocess.Popen(run, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while not finished_files(out) and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    done = {path for path, entry in finished_files(out).items() if "error" not in entry}
    assert 1 <= len(done) < 4
    written = {path.name: path.stat().st_mtime_ns for path in out.iterdir() if path.name != MANIFEST}

    result = subprocess.run(run, capture_output=True, text=True)
    assert result.returncode == 2, result.stderr[-3000:]
    assert f"{len(done)} finished before (skipped), {5 - len(done)} to do" in result.stderr
    for path in done:  # not redone
        for name in finished_files(out)[path]["outputs"].values():
            assert (out / name).stat().st_mtime_ns == written[name]
    assert outputs_of(out) == outputs_of(reference[0]) and same_entries(finished_files(out), reference[1])

    changed = inputs[3]  # kd-dti.txt: one abstract less
    lines = open(changed, encoding="utf-8").read().splitlines(keepends=True)
    with open(changed, "w", encoding="utf-8") as handle:
        handle.writelines(lines[1:])
    before = {path.name: path.stat().st_mtime_ns for path in out.iterdir() if path.name != MANIFEST}
    try:
        files = run_job(job, inputs, str(out), ray_address, progress=False)
    finally:
        with open(changed, "w", encoding="utf-8") as handle:
            handle.writelines(lines)
    assert files[changed]["documents"] == 39
    redone = {name for name, mtime in before.items() if (out / name).stat().st_mtime_ns != mtime}
    assert redone == {"kd-dti.jsonl", "kd-dti.pubtator"}


def test_ray_asked_for_without_ray_installed_says_how_to_install_it(job, inputs, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed: `import ray` raises ImportError
    with pytest.raises(UserError, match=r"--ray needs Ray Data, which is not installed here: "
                                        r"pip install 'ray\[data\]'"):
        run_job(job, inputs[1:2], str(tmp_path / "out"), "local", progress=False)
