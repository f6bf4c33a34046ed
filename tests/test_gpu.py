"""BioGPT on CUDA: the API's `.to("cuda")`, BioGPT's sequence generator, reduced-precision decoding, safe
loading and averaging of checkpoints written on a GPU, an fp16 training run of the prompt task, and
chunked_cross_entropy with its CPU-only pieces left out.

The tests marked `gpu` need a CUDA device and are skipped without one (bench/gpu/run.sh runs them on
the GPU machine). They build their own tiny model over a tiny vocabulary, so they need neither the
data mirror nor a pre-trained checkpoint. The unmarked ones check, on any machine, the logic a CUDA
run depends on.
"""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from biogpt_fairseq.runtime import precision

REPO = Path(__file__).resolve().parents[1]
CUDA = torch.cuda.is_available()
REQUIRES_CUDA = pytest.mark.skipif(not CUDA, reason="needs a CUDA device (torch.cuda.is_available() is False "
                                                     "here); bench/gpu/run.sh runs these on a GPU machine")


def on_cuda(test):
    """Marked `gpu` (select with -m gpu) and skipped, with its reason, where there is no CUDA device."""
    return pytest.mark.gpu(REQUIRES_CUDA(test))


# A vocabulary that covers lowercase text with one BPE merge ("t h"): every letter as a word's last
# piece and as a piece that continues it ("@@"), and the merged "th".
LETTERS = "abcdefghijklmnopqrstuvwxyz"
SYMBOLS = [*LETTERS, *(c + "@@" for c in LETTERS), "th", "th@@", ".", ","]
TINY = ["--decoder-layers", "2", "--decoder-embed-dim", "64", "--decoder-ffn-embed-dim", "128",
        "--decoder-attention-heads", "2"]
TEXTS = ["the patient was treated with cisplatin .", "naloxone reverses the effect of clonidine",
         "a b c", "hepatitis , nephrotoxicity and the kidney"]


def write_tiny_model(directory: Path, seed: int = 0) -> Path:
    """A random tiny BioGPT language model as a fairseq checkpoint directory (checkpoint.pt, dict.txt,
    bpecodes), in the layout biogpt-convert from-hf writes."""
    from fairseq import options, tasks
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf
    from omegaconf import OmegaConf

    import biogpt_fairseq.plugin  # noqa: F401  (registers the plugin)

    directory.mkdir(parents=True, exist_ok=True)
    (directory / "dict.txt").write_text("".join(f"{s} {1000 - i}\n" for i, s in enumerate(SYMBOLS)))
    (directory / "bpecodes").write_text("t h 100\n")
    parser = options.get_training_parser(default_task="language_modeling")
    args = options.parse_args_and_arch(parser, [str(directory), "--task", "language_modeling", "--arch",
                                                "transformer_lm_biogpt_tiny", "--user-dir", str(REPO / "biogpt_fairseq"),
                                                *TINY, "--tokens-per-sample", "128"])
    cfg = convert_namespace_to_omegaconf(args)
    task = tasks.setup_task(cfg.task)
    torch.manual_seed(seed)
    model = task.build_model(cfg.model)
    container = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    container["common"]["user_dir"] = None
    container["task"]["data"] = str(directory)
    torch.save({"args": None, "cfg": container, "model": model.state_dict(),
                "optimizer_history": [{"criterion_name": "CrossEntropyCriterion", "optimizer_name": None,
                                       "lr_scheduler_state": {}, "num_updates": 0}],
                "extra_state": {}, "last_optimizer_state": None, "task_state": {}}, directory / "checkpoint.pt")
    return directory


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory) -> Path:
    return write_tiny_model(tmp_path_factory.mktemp("tiny_gpu_model"))


# --- on any machine: the logic a CUDA run depends on -----------------------------------------------

def test_fp16_is_a_decoding_precision_the_fairseq_engine_can_cast_to():
    """The fairseq engine runs dtype="fp16" as fp16 on CUDA; the cast it then makes must know fp16."""
    from biogpt_fairseq.engines.fairseq_engine import FairseqEngine

    assert FairseqEngine.runs_in("fp16", "cuda") == "fp16"
    assert precision.torch_dtype("fp16") == torch.float16
    model = torch.nn.Linear(4, 4)
    precision.cast([model], "fp16")
    assert model.weight.dtype == torch.float16 and precision.of(model) == "fp16"


def test_onednn_products_apply_to_fp32_cpu_tensors_only():
    """chunked_cross_entropy packs and multiplies with oneDNN only where every tensor is fp32 on the CPU:
    never on another device (meta stands in for CUDA here), nor in reduced precision."""
    from biogpt_fairseq.runtime import onednn

    cpu = torch.ones(2, 2)
    assert onednn.applies(cpu, cpu)
    assert not onednn.applies(cpu, torch.ones(2, 2, device="meta"))
    assert not onednn.applies(cpu.half(), cpu.half()) and not onednn.applies(cpu.bfloat16(), cpu)


def test_tiny_model_helper_encodes_lowercase_text_without_unknowns(tiny_model_dir):
    from biogpt_fairseq import BioGPT

    model = BioGPT.from_pretrained(tiny_model_dir, device="cpu")
    unk = model.engine.dictionary.unk()
    for text in TEXTS:
        tokens = model.engine.encode(text).tolist()
        assert len(tokens) > 3 and unk not in tokens


# --- on CUDA --------------------------------------------------------------------------------------

@on_cuda
@pytest.mark.parametrize("beam", [1, 3])
def test_api_to_cuda_generates_the_cpu_tokens(tiny_model_dir, beam):
    from biogpt_fairseq import BioGPT

    model = BioGPT.from_pretrained(tiny_model_dir, device="cpu")
    on_cpu = model.generate(TEXTS, beam=beam, max_len=12)
    assert model.to("cuda") is model and model.device.type == "cuda"
    assert next(model.engine.hub.models[0].parameters()).is_cuda
    assert model.generate(TEXTS, beam=beam, max_len=12) == on_cpu
    assert model.to("cpu").generate(TEXTS, beam=beam, max_len=12) == on_cpu
    default = BioGPT.from_pretrained(tiny_model_dir)  # cuda where there is one
    assert default.device.type == "cuda" and default.generate(TEXTS, beam=beam, max_len=12) == on_cpu


@on_cuda
@pytest.mark.parametrize("dtype", ["fp16", "bf16"])
def test_reduced_precision_decoding_on_cuda(tiny_model_dir, dtype):
    from biogpt_fairseq import BioGPT

    model = BioGPT.from_pretrained(tiny_model_dir, device="cuda", dtype=dtype)
    weights = next(model.engine.hub.models[0].parameters())
    assert model.dtype == dtype and weights.is_cuda and weights.dtype == precision.torch_dtype(dtype)
    outputs = model.generate(TEXTS, beam=2, max_len=8)
    assert len(outputs) == len(TEXTS) and all(outputs)


SEARCHES = {"greedy": dict(beam=1), "beam": dict(beam=4), "min_len, unk penalty": dict(beam=2, min_len=20, unk_penalty=1.5),
            "sampling": dict(beam=2, sampling=True, sampling_topk=5)}


@on_cuda
@pytest.mark.parametrize("name", SEARCHES)
def test_biogpt_generator_on_cuda_equals_fairseqs(tiny_model_dir, name):
    """BioGPTSequenceGenerator (prefill, decoding cache) on CUDA: fairseq's SequenceGenerator's hypotheses."""
    from fairseq.sequence_generator import SequenceGenerator

    from biogpt_fairseq import BioGPT
    from biogpt_fairseq.runtime.sequence_generator import BioGPTSequenceGenerator

    model = BioGPT.from_pretrained(tiny_model_dir, device="cuda")
    sources = [model.engine.encode(text) for text in TEXTS]
    search = {"max_len_a": 0, "max_len_b": 40, **SEARCHES[name]}
    beam = search.pop("beam")
    torch.manual_seed(0)
    ours = model.engine.search(sources, beam, generator_class=BioGPTSequenceGenerator, **search)
    torch.manual_seed(0)
    stock = model.engine.search(sources, beam, generator_class=SequenceGenerator, **search)
    assert [h["tokens"].tolist() for h in ours] == [h["tokens"].tolist() for h in stock]
    assert all(h["tokens"].is_cuda for h in ours)
    for a, b in zip(ours, stock):
        torch.testing.assert_close(a["positional_scores"], b["positional_scores"], atol=5e-4, rtol=0)


@on_cuda
def test_checkpoints_written_on_cuda_load_safely_anywhere_and_average(tiny_model_dir, tmp_path):
    """A checkpoint whose tensors were saved from the GPU: the safe loader maps them where asked, fairseq's
    loader (routed through it) and the API load it on the CPU, and averaging two gives their mean."""
    from fairseq.checkpoint_utils import load_checkpoint_to_cpu

    from biogpt_fairseq import BioGPT
    from biogpt_fairseq.runtime.safe_checkpoint import load
    from biogpt_fairseq.tools.average_checkpoints import average

    state = load(tiny_model_dir / "checkpoint.pt")
    paths = []
    for scale in (1.0, 3.0):
        on_gpu = dict(state, model={k: (v * scale if v.is_floating_point() else v).cuda().half()
                                     if v.is_floating_point() else v.cuda() for k, v in state["model"].items()})
        paths.append(tmp_path / f"checkpoint{int(scale)}.pt")
        torch.save(on_gpu, paths[-1])
    assert all(t.device.type == "cpu" for t in load(paths[0])["model"].values())
    assert all(t.is_cuda for t in load(paths[0], map_location="cuda")["model"].values())
    assert all(t.device.type == "cpu" for t in load_checkpoint_to_cpu(str(paths[0]))["model"].values())
    averaged = average(paths)["model"]
    for key, value in state["model"].items():
        if value.is_floating_point():  # fp16 summed in fp32: (1x + 3x) / 2 = 2x, to fp16's rounding
            assert averaged[key].device.type == "cpu" and averaged[key].dtype == torch.float32
            torch.testing.assert_close(averaged[key], (value * 2).half().float(), rtol=2e-3, atol=2e-3)
    shutil.copy(tiny_model_dir / "dict.txt", tmp_path)
    shutil.copy(tiny_model_dir / "bpecodes", tmp_path)
    model = BioGPT.from_pretrained(paths[0], device="cpu")
    assert model.device.type == "cpu" and model.generate(TEXTS[:1], beam=1, max_len=4)


def training_losses(log: str):
    """(loss, loss_scale) of each logged update of a `--log-format json` fairseq-train log."""
    rows = [json.loads(line[line.index("{"):]) for line in log.splitlines() if '"train_inner"' not in line
            and "{" in line and '"loss"' in line and '"epoch"' in line]
    return [(float(r["loss"]), r.get("loss_scale")) for r in rows if "train_loss" not in r and "loss" in r]


@on_cuda
def test_prompt_task_trains_in_fp16_on_cuda(tiny_model_dir, tmp_path):
    """fairseq-train of the prompt task with --fp16 on CUDA from the tiny LM: the loss scaler runs,
    the loss falls, the checkpoint records fp16 (fairseq 0.12's Trainer.save_checkpoint writes the weights
    in fp32: utils.move_to_cpu casts fp16 and bf16 tensors), and the API generates from it on CUDA."""
    raw, data_bin, save = tmp_path / "raw", tmp_path / "data-bin", tmp_path / "save"
    raw.mkdir()
    torch.manual_seed(0)
    for split, n in (("train", 96), ("valid", 8)):
        sources = [" ".join(LETTERS[i] + "@@" for i in torch.randint(0, 26, (12,)).tolist()) + " e" for _ in range(n)]
        (raw / f"{split}.x").write_text("\n".join(sources) + "\n")
        (raw / f"{split}.y").write_text("\n".join("th@@ e a@@ n@@ s@@ w@@ e@@ r i s ." for _ in sources) + "\n")
    subprocess.run([sys.executable, "-m", "fairseq_cli.preprocess", "--source-lang", "x", "--target-lang", "y",
                    "--trainpref", raw / "train", "--validpref", raw / "valid", "--destdir", data_bin,
                    "--joined-dictionary", "--srcdict", tiny_model_dir / "dict.txt", "--workers", "1"],
                   check=True, capture_output=True)
    shutil.copy(tiny_model_dir / "bpecodes", data_bin)
    result = subprocess.run(
        [sys.executable, "-m", "fairseq_cli.train", data_bin, "--user-dir", REPO / "biogpt_fairseq",
         "--task", "language_modeling_prompt", "--source-lang", "x", "--target-lang", "y", "--learned-prompt", "3",
         "--arch", "transformer_lm_prompt_biogpt_tiny", *TINY, "--finetune-from-model", tiny_model_dir / "checkpoint.pt",
         "--tokens-per-sample", "128", "--max-source-positions", "100", "--batch-size", "16", "--optimizer", "adam",
         "--lr", "3e-3", "--max-update", "36", "--fp16", "--save-dir", save, "--no-epoch-checkpoints",
         "--log-format", "json", "--log-interval", "1", "--disable-validation", "--num-workers", "0", "--seed", "1"],
        capture_output=True, text=True, cwd=tmp_path)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    losses = training_losses(log)
    assert len(losses) >= 30, log[-2000:]
    assert all(scale is not None for _, scale in losses), "no loss_scale logged: the fp16 optimizer did not run"
    first, last = sum(l for l, _ in losses[:5]) / 5, sum(l for l, _ in losses[-5:]) / 5
    assert last < 0.7 * first, f"the loss did not fall: {first:.2f} -> {last:.2f}"
    from biogpt_fairseq import BioGPT
    from biogpt_fairseq.runtime.safe_checkpoint import load

    state = load(save / "checkpoint_last.pt")
    assert state["cfg"]["common"]["fp16"] and state["model"]["decoder.embed_tokens.weight"].dtype == torch.float32
    model = BioGPT.from_pretrained(save, data=data_bin, device="cuda")
    assert model.is_prompt_model and len(model.complete(["a@@ b@@ c d", "x@@ y z"], max_new_tokens=12)) == 2


@on_cuda
def test_chunked_cross_entropy_on_cuda_leaves_its_cpu_pieces_out(tiny_model_dir, monkeypatch):
    """On a CUDA model the criterion gives cross_entropy's loss and gradients, without oneDNN's packed
    matrices or glibc's setting for freed memory (both for CPU runs only)."""
    from fairseq.criterions.cross_entropy import CrossEntropyCriterion

    from biogpt_fairseq.criterions.chunked_cross_entropy import ChunkedCrossEntropyCriterion
    from biogpt_fairseq.engines.base import build_model, load_checkpoint
    from biogpt_fairseq.runtime import glibc_memory, onednn

    engaged = []
    real_pack, real_kept = onednn.pack, glibc_memory.kept_freed_memory
    monkeypatch.setattr(onednn, "pack", lambda *a, **k: (engaged.append("onednn.pack"), real_pack(*a, **k))[1])

    def recorded():
        engaged.append("glibc_memory.kept_freed_memory")
        return real_kept()
    monkeypatch.setattr(glibc_memory, "kept_freed_memory", recorded)
    checkpoint = load_checkpoint(tiny_model_dir, keep=[])
    model, task = build_model(checkpoint).cuda().train(), checkpoint.task  # (the API's is made for generation only)
    torch.manual_seed(0)
    tokens = torch.randint(4, len(task.target_dictionary), (4, 33), device="cuda")
    sample = {"net_input": {"src_tokens": tokens[:, :-1], "src_lengths": torch.full((4,), 32, device="cuda")},
              "target": tokens[:, 1:].contiguous(), "ntokens": 4 * 32}
    results = []
    for criterion in (ChunkedCrossEntropyCriterion(task, False, chunk_tokens=16, block_tokens=64),
                      CrossEntropyCriterion(task, False)):
        model.zero_grad()
        torch.manual_seed(1)  # the same dropout masks
        loss, _, _ = criterion(model, sample)
        loss.backward()
        results.append((loss.detach(), [p.grad.clone() for p in model.parameters()]))
    assert engaged == []
    torch.testing.assert_close(results[0][0], results[1][0], rtol=1e-5, atol=1e-4)
    for got, want in zip(results[0][1], results[1][1]):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
