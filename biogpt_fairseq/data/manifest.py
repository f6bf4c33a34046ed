"""The manifest a fine-tuning data directory carries, so later steps need no repeated paths.

`biogpt-build` writes it beside the source/target text; `preprocess/finetune.sh` puts it into
`data-bin` with the dictionary, the BPE codes and the id files. It says which dataset and variant
the data are and where the raw data and gold files are. The prompt task reads it to save the
dataset in its checkpoints, downstream's tools (downstream/manifest.py) to find the rest: this
reader is the plugin's and imports nothing of downstream's.
"""
import json
from pathlib import Path
from typing import Optional

from biogpt_fairseq.textio import UserError, atomic_output, read_json

NAME = "manifest.json"
FORMAT = 1
# What a model fine-tuned on the data keeps of their manifest (in its task state): the dataset, its
# variant and, for a dataset defined by files, its definition without where the files are
# (`portable`): all that decoding needs, so a model trained on one machine reads data rebuilt on another.
MODEL_KEYS = ("dataset", "variant", "definition")
WHERE_KEYS = ("files", "root")  # a definition's keys for where its records are: the data's, not the model's


def write(directory: Path, manifest: dict) -> None:
    with atomic_output(str(Path(directory) / NAME)) as handle:
        json.dump({"format": FORMAT, **manifest}, handle, indent=1, sort_keys=True)
        handle.write("\n")


def read(directory: Path) -> dict:
    path = Path(directory) / NAME
    if not path.exists():
        raise UserError(f"{path}: no such file ({directory} was not made by preprocess/finetune.sh "
                        "or biogpt-build)")
    manifest = read_json(path)
    if not isinstance(manifest, dict):
        raise UserError(f"{path}: not a manifest (a JSON object)")
    if manifest.get("format") != FORMAT:
        raise UserError(f"{path}: manifest format {manifest.get('format')!r}, this version reads {FORMAT}")
    return manifest


def read_optional(directory: Optional[Path]) -> Optional[dict]:
    if directory is None or not (Path(directory) / NAME).exists():
        return None
    return read(directory)


def portable(definition: dict) -> dict:
    """A definition without where its files are."""
    return {key: value for key, value in definition.items() if key not in WHERE_KEYS}


def model_settings(manifest: Optional[dict]) -> dict:
    """The MODEL_KEYS of a manifest (None where it has none, or there is no manifest)."""
    manifest = manifest or {}
    definition = manifest.get("definition")
    return {"dataset": manifest.get("dataset"), "variant": manifest.get("variant"),
            "definition": portable(definition) if definition else None}
