"""Checkpoints are untrusted: only tensors and the allow-list are unpickled, everywhere fairseq loads one."""
import os

import pytest
import torch
from conftest import REPO, run_tool

from biogpt_fairseq import BioGPT
from biogpt_fairseq.runtime.safe_checkpoint import UnsafeCheckpointError, load


class _CreatesMarker:
    """Unpickling this runs `touch MARKER`."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.fixture
def crafted(tiny_pretrained, tmp_path):
    """A real checkpoint with one extra entry that would create a marker file if unpickled."""
    state = torch.load(tiny_pretrained, map_location="cpu", weights_only=False)
    marker = tmp_path / "marker"
    state["extra_state"]["payload"] = _CreatesMarker(marker)
    directory = tmp_path / "model"
    directory.mkdir()
    torch.save(state, directory / "checkpoint.pt")
    return directory / "checkpoint.pt", marker


def test_the_crafted_file_really_runs_code_when_unpickled_unsafely(crafted):
    checkpoint, marker = crafted
    torch.load(checkpoint, weights_only=False)  # what fairseq 0.12 on torch < 2.6 did
    assert marker.exists()


def test_refused_with_the_offending_global_named(crafted):
    checkpoint, marker = crafted
    with pytest.raises(UnsafeCheckpointError, match=r"posix\.system"):
        load(checkpoint)
    assert not marker.exists()


def test_refused_by_fairseq_generate_and_the_api(crafted, tiny_corpus):
    checkpoint, marker = crafted
    result = run_tool("fairseq-interactive", tiny_corpus / "data-bin" / "shard0", "--user-dir", REPO / "biogpt_fairseq",
                      "--task", "language_modeling", "--path", checkpoint, "--cpu", stdin=b"a\n", check=False)
    assert result.returncode != 0 and "refused to load" in result.stderr.decode()
    with pytest.raises(UnsafeCheckpointError, match="posix.system"):
        BioGPT.from_pretrained(checkpoint, data=tiny_corpus)
    result = run_tool("biogpt_fairseq.tools.convert", "to-hf", checkpoint, "--data", tiny_corpus, "--bpe-codes",
                      tiny_corpus / "bpecodes", "--out", checkpoint.parent / "hf", check=False)
    assert result.returncode == 2 and "posix.system" in result.stderr.decode()
    assert not marker.exists()


@pytest.mark.fast
def test_legitimate_contents_load(tmp_path):
    """What fairseq checkpoints hold, old and new: an argparse Namespace, omegaconf containers, numpy values."""
    import argparse

    import numpy as np
    from omegaconf import OmegaConf

    state = {"args": argparse.Namespace(arch="transformer_lm_biogpt", lr=[2e-4]),
             "cfg": OmegaConf.create({"model": {"_name": "transformer_lm", "dropout": 0.1, "x": None, "l": [1, 2]}},
                                     flags={"allow_objects": True}),
             "extra_state": {"metrics": {"loss": np.float64(1.5)}, "rng": np.arange(3)},
             "model": {"w": torch.ones(2)}}
    torch.save(state, tmp_path / "ok.pt")
    loaded = load(tmp_path / "ok.pt")
    assert loaded["args"].arch == "transformer_lm_biogpt" and loaded["cfg"].model.l == [1, 2]
    assert loaded["extra_state"]["metrics"]["loss"] == 1.5 and torch.equal(loaded["model"]["w"], torch.ones(2))
