"""The configs compose, hold the paper's and the original train.sh's values, and build the intended model."""
import pytest
import torch
import yaml
from conftest import REPO, run_tool
from fairseq import tasks, utils
from fairseq.dataclass.initialize import add_defaults, hydra_init
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

CONFIG_DIR = REPO / "hydra_configs"


def composed(stage, name, data_path, *overrides):
    """The job config exactly as `fairseq-hydra-train --cfg job` prints it."""
    result = run_tool("fairseq-hydra-train", "--config-dir", CONFIG_DIR, "--config-name", stage, f"{stage}={name}",
                      f"task.data={data_path}", *overrides, "--cfg", "job", "--resolve")
    return yaml.safe_load(result.stdout.decode())


@pytest.mark.parametrize("name, arch, tokens_per_sample, layers, width", [
    ("biogpt_8xv100", "transformer_lm_biogpt", 1024, 24, 1024),
    ("biogpt_large_8xv100", "transformer_lm_biogpt_large", 2048, 48, 1600),
])
def test_paper_pretraining_config_values(name, arch, tokens_per_sample, layers, width):
    cfg = composed("pretrain", name, "data-bin/shard0:data-bin/shard1")
    assert cfg["common"]["fp16"] is True and cfg["common"]["user_dir"] == "biogpt_fairseq"
    assert cfg["distributed_training"]["distributed_world_size"] == 8
    assert cfg["task"]["_name"] == "language_modeling" and cfg["task"]["tokens_per_sample"] == tokens_per_sample
    tokens_per_update = (cfg["dataset"]["max_tokens"] * cfg["optimization"]["update_freq"][0]
                         * cfg["distributed_training"]["distributed_world_size"])
    assert tokens_per_update == 524_288
    assert cfg["optimizer"]["_name"] == "adam" and cfg["optimizer"]["adam_betas"] == "(0.9,0.98)"
    assert cfg["optimization"]["lr"] == [0.0002] and cfg["optimization"]["max_update"] == 200_000
    assert cfg["lr_scheduler"] == {**cfg["lr_scheduler"], "_name": "inverse_sqrt", "warmup_updates": 20_000}
    assert cfg["model"]["_name"] == arch
    assert (cfg["model"]["decoder_layers"], cfg["model"]["decoder_embed_dim"]) == (layers, width)


def build_like_fairseq_hydra_train(stage, name, data_path, *overrides):
    """Model of a config, built on the meta device along fairseq-hydra-train's own path.

    fairseq merges dataclass defaults into the model config twice (before and
    after importing the --user-dir): building through that path is what
    catches a config that would train a different shape than intended.
    """
    hydra_init(stage)
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base=None):
        cfg = compose(stage, overrides=[f"{stage}={name}", f"task.data={data_path}", *overrides])
    add_defaults(cfg)
    cfg = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True, enum_to_str=True))
    utils.import_user_module(cfg.common)
    add_defaults(cfg)
    task = tasks.setup_task(cfg.task)
    with torch.device("meta"):
        return task.build_model(cfg.model)


@pytest.mark.parametrize("name, dict_dir, expected", [
    ("biogpt_8xv100", "biogpt", 346_763_264),
    ("biogpt_large_8xv100", "biogpt-large", 1_571_188_800),
])
def test_config_builds_the_published_model(data, tmp_path, monkeypatch, name, dict_dir, expected):
    (tmp_path / "dict.txt").write_bytes((data / dict_dir / "dict.txt").read_bytes())
    monkeypatch.chdir(REPO)  # common.user_dir is relative to the repository root
    model = build_like_fairseq_hydra_train("pretrain", name, tmp_path)
    assert sum(p.numel() for p in model.parameters()) == expected
    assert model.decoder.project_in_dim is None and model.decoder.project_out_dim is None


def test_tiny_cpu_config_trains_through_fairseq_hydra_train(tiny_corpus, tmp_path):
    result = run_tool("fairseq-hydra-train", "--config-dir", CONFIG_DIR, "--config-name", "pretrain", "pretrain=tiny_cpu",
                      f"task.data={tiny_corpus / 'data-bin' / 'shard0'}", "optimization.max_update=3",
                      f"checkpoint.save_dir={tmp_path}", "dataset.validate_interval_updates=0",
                      "task.tokens_per_sample=64", f"hydra.job_logging.handlers.file.filename={tmp_path}/hydra_train.log",
                      cwd=REPO)
    log = result.stdout.decode() + result.stderr.decode()
    assert "transformer_lm_biogpt_tiny" in log
    state = torch.load(tmp_path / "checkpoint_last.pt", map_location="cpu", weights_only=False)
    assert state["cfg"]["model"]["decoder_input_dim"] == 256 and state["optimizer_history"][-1]["num_updates"] == 3


# name: (lr, warm-up updates, max epoch, max update, max source positions, learned prompt), from each
# dataset's original train.sh
ORIGINAL_TRAIN_SH = {
    "bc5cdr": (1e-5, 100, 100, 0, 640, 9),
    "ddi": (1e-4, 500, 100, 0, 640, 9),
    "kd-dti": (1e-5, 1000, 30, 0, 640, 9),
    "pubmedqa": (1e-5, 100, 100, 0, 900, 9),
    "hoc": (1e-5, 1000, 0, 20_000, 900, 1),
}


@pytest.mark.parametrize("name", sorted(ORIGINAL_TRAIN_SH) + ["custom"])
def test_finetune_configs_are_the_original_train_sh(name):
    cfg = composed("finetune", name, "data-bin", "checkpoint.finetune_from_model=pretrained.pt")
    # custom (a dataset of your own files): what every train.sh shares, as BC5CDR's has it
    lr, warmup, max_epoch, max_update, max_source, prompt = ORIGINAL_TRAIN_SH.get(name, ORIGINAL_TRAIN_SH["bc5cdr"])
    assert cfg["optimization"]["lr"] == [lr] and cfg["lr_scheduler"]["warmup_updates"] == warmup
    assert (cfg["optimization"]["max_epoch"], cfg["optimization"]["max_update"]) == (max_epoch, max_update)
    assert cfg["task"]["max_source_positions"] == max_source and cfg["task"]["learned_prompt"] == prompt
    # what every train.sh has
    assert cfg["optimizer"] == {**cfg["optimizer"], "_name": "adam", "adam_betas": "(0.9,0.98)", "weight_decay": 0.01}
    assert cfg["lr_scheduler"] == {**cfg["lr_scheduler"], "_name": "inverse_sqrt", "warmup_init_lr": 1e-07}
    assert cfg["optimization"]["clip_norm"] == 0.0 and cfg["optimization"]["update_freq"] == [32]
    assert cfg["dataset"]["max_tokens"] == 1024 and cfg["dataset"]["skip_invalid_size_inputs_valid_test"] is True
    assert (cfg["task"]["tokens_per_sample"], cfg["task"]["max_target_positions"]) == (1024, 1024)
    assert cfg["task"]["_name"] == "language_modeling_prompt" and cfg["model"]["_name"] == "transformer_lm_prompt_biogpt"
    assert cfg["common"]["fp16"] is False and cfg["criterion"] == "cross_entropy"  # the original fine-tunes in fp32
    assert cfg["checkpoint"]["finetune_from_model"] == "pretrained.pt"
    if max_update:  # HoC: checkpoints every 1,000 updates, none per epoch; infer takes checkpoint_last.pt
        assert cfg["checkpoint"]["save_interval_updates"] == 1000 and cfg["checkpoint"]["no_epoch_checkpoints"]
    else:  # the last 5 epochs, which infer averages
        assert cfg["checkpoint"]["keep_last_epochs"] == 5


def test_the_large_pubmedqa_recipe_and_mixed_precision():
    cfg = composed("finetune", "pubmedqa_large", "data-bin", "checkpoint.finetune_from_model=pretrained.pt",
                   "precision=fp16")
    assert cfg["model"]["_name"] == "transformer_lm_prompt_biogpt_large" and cfg["model"]["decoder_layers"] == 48
    assert (cfg["task"]["tokens_per_sample"], cfg["task"]["max_source_positions"]) == (2048, 1900)
    assert (cfg["dataset"]["max_tokens"], cfg["optimization"]["update_freq"]) == (2048, [16])
    assert cfg["common"]["fp16"] is True


@pytest.mark.parametrize("name", ["bc5cdr", "hoc", "tiny_cpu"])
def test_finetune_config_builds_biogpt_plus_its_prompt(data, tmp_path, monkeypatch, name):
    (tmp_path / "dict.x.txt").write_bytes((data / "biogpt" / "dict.txt").read_bytes())
    monkeypatch.chdir(REPO)
    model = build_like_fairseq_hydra_train("finetune", name, tmp_path, "checkpoint.finetune_from_model=unused.pt",
                                           "+task.source_lang=x", "+task.target_lang=y")
    prompt = 1 if name == "hoc" else 9
    width = 256 if name == "tiny_cpu" else 1024
    assert model.decoder.embed_tokens.weight.shape == (42_384 + prompt, width)
    if name != "tiny_cpu":
        assert sum(p.numel() for p in model.parameters()) == 346_763_264 + prompt * 1024
    assert type(model).__name__ == "TransformerLanguageModelPrompt" and model.decoder.project_in_dim is None
