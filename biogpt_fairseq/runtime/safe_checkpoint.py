"""Load checkpoints as untrusted files: tensors and an explicit allow-list of plain classes.

A checkpoint is a pickle, and unpickling can run any code the file names.
`load` unpickles with `torch.load(weights_only=True)`, which rebuilds only
tensors, containers and the classes allowed here: exactly what fairseq
checkpoints legitimately hold, from the original release's (fairseq 0.12.0,
torch 1.12; older ones keep their settings in an argparse Namespace) to
today's. Anything else is refused with an error naming the offending global.
The plugin routes fairseq's own loader through it (see runtime/fairseq_patches.py).
"""
import argparse
import collections
import os
import pickle
import re
import typing

import numpy as np
import torch
from numpy.core.multiarray import _reconstruct, scalar
from omegaconf import DictConfig, ListConfig
from omegaconf.base import ContainerMetadata, Metadata
from omegaconf.nodes import AnyNode, BooleanNode, FloatNode, IntegerNode, StringNode

from biogpt_fairseq.textio import UserError

ALLOWED_GLOBALS = [
    argparse.Namespace,  # `args` of checkpoints written before fairseq's hydra configs
    collections.defaultdict, collections.OrderedDict,
    # omegaconf containers: `cfg` kept as a DictConfig, with the types its metadata records
    DictConfig, ListConfig, ContainerMetadata, Metadata, AnyNode, StringNode, IntegerNode, FloatNode, BooleanNode,
    typing.Any, int, float, str, bool, dict, list, tuple,
    # numpy scalars and arrays in training state (meters, data-iterator positions)
    np.ndarray, np.dtype, scalar, _reconstruct,
    *{type(np.dtype(name)) for name in ("bool", "int8", "int16", "int32", "int64", "uint8", "float16", "float32",
                                        "float64")},  # numpy's per-dtype classes (numpy.dtypes.Float64DType, ...)
]
# torch words it in several ways: "... GLOBAL posix.system ...", "... but got <class 'x.Y'>"
UNSUPPORTED_GLOBAL = re.compile(r"\bGLOBAL ([\w.]+)|got <class '([\w.]+)'>")


class UnsafeCheckpointError(UserError):
    """The checkpoint pickles something outside the allow-list: it was not unpickled."""


def load(path_or_file, map_location="cpu", also_allowed=()):
    """`torch.load` of a checkpoint with weights_only=True and the allow-list above (plus `also_allowed`)."""
    name = path_or_file if isinstance(path_or_file, (str, os.PathLike)) else getattr(path_or_file, "name", "checkpoint")
    try:
        with torch.serialization.safe_globals([*ALLOWED_GLOBALS, *also_allowed]):
            return torch.load(path_or_file, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        offending = UNSUPPORTED_GLOBAL.search(str(err))
        what = f"the global {offending.group(1) or offending.group(2)}" if offending else "an object outside the allow-list"
        raise UnsafeCheckpointError(
            f"{name}: refused to load: it pickles {what}, which a fairseq checkpoint does not hold "
            "(an untrusted file could run code this way). Nothing from it was executed."
        ) from None
