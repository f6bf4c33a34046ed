"""Faults: a killed training run resumes where it was; a kill while saving never costs the last good
checkpoint; an interrupted preprocessing step never leaves an output that looks complete."""
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import torch
from conftest import BIN, DETERMINISTIC, REPO, TINY_MODEL, run_tool, task_abstracts, weights_with_a_gradient

from biogpt_fairseq.runtime.safe_checkpoint import load



def training_command(tiny_corpus, save_dir, max_update=30):
    return [str(BIN / "fairseq-train"), str(tiny_corpus / "data-bin" / "shard0"), "--user-dir",
            str(REPO / "biogpt_fairseq"), "--task", "language_modeling", "--arch", "transformer_lm_biogpt_tiny",
            *map(str, TINY_MODEL), "--tokens-per-sample", "64", "--sample-break-mode", "none", "--batch-size", "4",
            "--optimizer", "adam", "--lr", "1e-3", "--max-update", str(max_update), "--save-interval-updates", "10",
            "--keep-interval-updates", "1", "--disable-validation", "--save-dir", str(save_dir),
            *map(str, DETERMINISTIC)]


def run_until(command, marker: str, env=None) -> str:
    """Start `command`, SIGKILL it as soon as its output shows `marker`; return the output so far."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO,
                               env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})
    seen = []
    for line in process.stdout:
        seen.append(line)
        if marker in line:
            process.send_signal(signal.SIGKILL)
            break
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, "".join(seen[-20:])
    return "".join(seen)


def assert_same_weights(a: Path, b: Path):
    first, second = load(a)["model"], load(b)["model"]
    # (a resumed run rounds a little differently, Adam's moments 1e-9 apart: in one run of the suite the
    # keys' biases ended 4.8e-5 apart, every other weight within 1e-6)
    assert all(torch.allclose(first[k], second[k], atol=1e-6) for k in weights_with_a_gradient(first))


def test_kill_9_mid_epoch_then_the_same_command_resumes_and_ends_where_an_unbroken_run_does(tiny_corpus, tmp_path):
    command = training_command(tiny_corpus, tmp_path / "broken")
    before = run_until(command, "num_updates=14,")
    assert "epoch 001:" in before and "end of epoch" not in before  # killed inside the first epoch
    rerun = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    log = rerun.stdout + rerun.stderr
    assert "(epoch 1 @ 10 updates)" in log  # resumed from checkpoint_last.pt: updates, optimizer, lr, data position
    assert "num_updates=11," in log and "num_updates=10," not in log
    assert load(tmp_path / "broken" / "checkpoint_last.pt")["optimizer_history"][-1]["num_updates"] == 30
    run_tool(*training_command(tiny_corpus, tmp_path / "unbroken"))
    assert_same_weights(tmp_path / "broken" / "checkpoint_last.pt", tmp_path / "unbroken" / "checkpoint_last.pt")


KILLED_WHILE_COPYING = textwrap.dedent("""
    # fairseq-train, killed (as by a power cut) halfway through writing checkpoint_last.pt the second time
    import os, shutil, sys
    copies = []
    copyfile = shutil.copyfile

    def copy_and_die_on_the_second(src, dst, *args, **kwargs):
        copies.append(dst)
        if len(copies) == 2:
            with open(src, "rb") as source, open(dst, "wb") as target:
                target.write(source.read()[: os.path.getsize(src) // 2])
                target.flush()
            os._exit(9)
        return copyfile(src, dst, *args, **kwargs)

    shutil.copyfile = copy_and_die_on_the_second
    from fairseq_cli.train import cli_main
    sys.argv = sys.argv[1:]
    cli_main()
""")


def test_a_kill_while_saving_leaves_the_previous_checkpoint_readable(tiny_corpus, tmp_path):
    command = training_command(tiny_corpus, tmp_path / "ckpt")
    died = subprocess.run([sys.executable, "-c", KILLED_WHILE_COPYING, *command], capture_output=True, text=True,
                          cwd=REPO)
    assert died.returncode == 9, died.stderr[-2000:]
    assert "(epoch 1 @ 20 updates)" not in died.stdout + died.stderr  # the second save never completed
    assert load(tmp_path / "ckpt" / "checkpoint_last.pt")["optimizer_history"][-1]["num_updates"] == 10
    rerun = run_tool(*command)
    assert "(epoch 1 @ 10 updates)" in rerun.stdout.decode() + rerun.stderr.decode()
    assert load(tmp_path / "ckpt" / "checkpoint_last.pt")["optimizer_history"][-1]["num_updates"] == 30


def test_killed_tokenization_leaves_no_output_that_looks_complete(data, tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(task_abstracts(data) * 4) + "\n", encoding="utf-8")
    out = tmp_path / "corpus.bpe"
    process = subprocess.Popen([sys.executable, "-m", "biogpt_fairseq.data.tokenize", "--bpe-codes",
                                str(data / "biogpt" / "bpecodes"), str(corpus), "-o", str(out)],
                               cwd=REPO, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while not list(tmp_path.glob("corpus.bpe.tmp*")) and time.time() < deadline:  # writing has started
        time.sleep(0.05)
    assert process.poll() is None, "finished before it could be interrupted"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert list(tmp_path.glob("corpus.bpe.tmp*")) and not out.exists()
    run_tool("biogpt_fairseq.data.tokenize", "--bpe-codes", data / "biogpt" / "bpecodes", corpus, "-o", out)
    assert len(out.read_text(encoding="utf-8").split("\n")) == len(corpus.read_text(encoding="utf-8").split("\n"))
