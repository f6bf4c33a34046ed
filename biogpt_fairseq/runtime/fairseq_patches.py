"""What the plugin must change in fairseq for the whole process, in one table.

Everything else the plugin changes goes through fairseq's extension points
(the task's `build_generator`, `build_bpe`, `build_tokenizer` and state, the
model's `load_state_dict`, the dataset's `batch_by_size`, the criterion). What
is here has no such point: checkpoints are read by module-level functions,
distributed set-up and hydra's config loading are module-level too.

`apply()` installs every patch once (a second call does nothing); the plugin's
registration module calls it, and nothing else does. With
BIOGPT_FAIRSEQ_PATCHES=0 in the environment it installs nothing (fairseq as
released: unsafe checkpoint loading included).

| target | why | test |
|---|---|---|
| `checkpoint_utils.torch.load`, `distributed_utils.torch.load` | checkpoints are untrusted files: `weights_only=True` with an allow-list | test_safe_loading.py |
| `distributed_fairseq_model.DistributedDataParallel` | fairseq passes `device_ids` for CPU modules, which DDP rejects: `--cpu` training could not run distributed | test_distributed.py |
| `distributed_utils._infer_torch_distributed_launch_init` | under torchrun without GPUs fairseq divides the rank by the GPU count (0) | test_distributed.py |
| `file_io.PathManager.copy` | checkpoint_last.pt is a copy of the checkpoint just saved; a copy killed midway left a truncated one | test_fault_recovery.py |
| `dataclass_utils.initialize`, `dataclass_utils.compose` | fairseq's argparse-to-config path uses hydra's experimental API, which fails once anything set hydra's version base to 1.2+ | test_fairseq_patches.py |
"""
import os
import types

import hydra
import torch
from fairseq import checkpoint_utils, file_io
from fairseq.dataclass import utils as dataclass_utils
from fairseq.distributed import utils as distributed_utils
from fairseq.models import distributed_fairseq_model
from hydra import version as hydra_version

from biogpt_fairseq.runtime import safe_checkpoint

SWITCH = "BIOGPT_FAIRSEQ_PATCHES"
_applied = []  # the (module, attribute, original) of each installed patch


class _TorchLoadingSafely(types.ModuleType):
    """torch as a fairseq module sees it, with `torch.load` (which fairseq calls naming no
    weights_only) going through the allow-listed loader: every checkpoint fairseq opens
    (fairseq-train's restore and --finetune-from-model, fairseq-generate --path, the hub)
    is loaded as an untrusted file."""

    def __init__(self, also_allowed=()):
        super().__init__("torch")
        self.also_allowed = list(also_allowed)

    def __getattr__(self, name):
        return getattr(torch, name)

    def load(self, f, map_location=None, **_):
        return safe_checkpoint.load(f, map_location=map_location or "cpu", also_allowed=self.also_allowed)


def _distributed_data_parallel_on_cpu(module, device_ids=None, output_device=None, **kwargs):
    if next(module.parameters()).device.type == "cpu":
        device_ids = output_device = None
    return _original("DistributedDataParallel")(module, device_ids=device_ids, output_device=output_device, **kwargs)


def _infer_torch_launch_init_without_gpus(cfg):
    if torch.cuda.device_count():
        return _original("_infer_torch_distributed_launch_init")(cfg)
    cfg.distributed_init_method = "env://"
    cfg.distributed_world_size = int(os.environ["WORLD_SIZE"])
    cfg.distributed_rank = int(os.environ["RANK"])
    cfg.device_id = 0
    cfg.distributed_no_spawn = True  # torchrun started the processes


def _copy_then_rename(src_path: str, dst_path: str, overwrite: bool = False):
    copy = _original("copy")
    if file_io.PathManager.path_requires_pathmanager(dst_path):
        return copy(src_path, dst_path, overwrite=overwrite)
    partial = f"{dst_path}.partial"
    result = copy(src_path, partial, overwrite=True)
    os.replace(partial, dst_path)
    return result


class _InitializeFairseqConfig:
    """What fairseq's `hydra.experimental.initialize(config_path="../config")` meant, on hydra 1.3:
    fairseq's config directory opened with the 1.1 semantics fairseq was written for, the
    process' version base restored afterwards."""

    def __init__(self, config_path=None, **_):
        self.config_dir = os.path.abspath(os.path.join(os.path.dirname(dataclass_utils.__file__), config_path))

    def __enter__(self):
        self.version_base = hydra_version.VersionBase.instance().getbase()
        self.context = hydra.initialize_config_dir(config_dir=self.config_dir, version_base="1.1")
        return self.context.__enter__()

    def __exit__(self, *exc_info):
        self.context.__exit__(*exc_info)
        hydra_version.VersionBase.instance().version_base = self.version_base


PATCHES = [
    (checkpoint_utils, "torch", _TorchLoadingSafely()),
    # Rank 0 broadcasts the checkpoint state it loaded to the other ranks as a pickle, with
    # fairseq's placeholders for the tensors sent apart.
    (distributed_utils, "torch", _TorchLoadingSafely(also_allowed=[distributed_utils._TensorPlaceholder])),
    (distributed_fairseq_model, "DistributedDataParallel", _distributed_data_parallel_on_cpu),
    (distributed_utils, "_infer_torch_distributed_launch_init", _infer_torch_launch_init_without_gpus),
    (file_io.PathManager, "copy", staticmethod(_copy_then_rename)),
    (dataclass_utils, "initialize", _InitializeFairseqConfig),
    (dataclass_utils, "compose", hydra.compose),
]


def _original(attribute: str):
    return next(original for _, name, original in _applied if name == attribute)


def enabled() -> bool:
    return os.environ.get(SWITCH, "1") != "0"


def apply() -> bool:
    """Install the patches (once); False where the environment switched them off."""
    if _applied or not enabled():
        return bool(_applied)
    for target, attribute, replacement in PATCHES:
        _applied.append((target, attribute, target.__dict__[attribute]))
        setattr(target, attribute, replacement)
    return True
