"""The paper's downstream datasets: one small spec each (`spec.py`), one pipeline for all.

A dataset of the user's own files is a definition file instead (`custom.py`),
whose resolved settings the data directory's manifest and the fine-tuned
checkpoint carry: `resolve` gives the spec of either.

`build` writes a dataset's source/target text as the original release does,
`postprocess` decodes generated lines, `evaluate` scores them with the
original's scorers, `infer` runs the original's inference chain end to end, `extract` runs a
fine-tuned model over new documents.
Every module in `datasets/` is a spec and is registered on import, as is every
module named in $BIOGPT_DATASETS (comma-separated): adding a dataset is adding
one such module.
"""
import importlib
import os
import pkgutil
from pathlib import Path

from biogpt_fairseq.downstream import datasets
from biogpt_fairseq.downstream.spec import DATASETS, DECODERS, get_dataset, only_dataset_of_kind  # noqa: F401
from biogpt_fairseq.textio import UserError

for _module in pkgutil.iter_modules(datasets.__path__):
    importlib.import_module(f"{datasets.__name__}.{_module.name}")
for _name in filter(None, os.environ.get("BIOGPT_DATASETS", "").split(",")):
    importlib.import_module(_name.strip())


def resolve(name: str, definition=None):
    """The spec of a paper dataset by name, or of a dataset defined by files: by its definition (as a
    manifest or a checkpoint carries it), or by its definition file (NAME.yaml, .yml or .json)."""
    from biogpt_fairseq.downstream import custom

    if definition:
        spec = custom.spec_from_definition(definition)
        if spec.name != name:
            raise UserError(f"dataset {name!r}, but its definition names {spec.name!r}")
        return spec
    if name not in DATASETS and name.endswith((".yaml", ".yml", ".json")):
        return custom.spec_from_definition(custom.read_definition(Path(name)))
    return get_dataset(name)
