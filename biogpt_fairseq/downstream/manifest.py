"""The manifest a fine-tuning data directory carries, so later steps need no repeated paths.

`build` writes it beside the source/target text; `preprocess/finetune.sh` puts
it into `data-bin` with the dictionary, the BPE codes and the id files. It says
which dataset and variant the data are, and where the raw data and gold files
are, so postprocess, evaluate, infer and the API read them from here. Reading and
writing it are the plugin's (data/manifest.py: the prompt task reads it too); this
module adds what downstream's steps ask of it: the dataset's spec, its raw folder.
"""
import os
from pathlib import Path
from typing import Optional

# The reader and writer are the plugin's (the prompt task reads manifests): downstream's steps use them from here.
from biogpt_fairseq.data.manifest import NAME, read, write  # noqa: F401
from biogpt_fairseq.textio import UserError


def spec(manifest: dict):
    """The spec of the dataset a manifest describes (a paper dataset, or one defined by files)."""
    from biogpt_fairseq.downstream import resolve

    return resolve(manifest["dataset"], manifest.get("definition"))


def raw_dir(manifest: dict, data: Optional[str] = None) -> Path:
    """The dataset's raw folder: under `data` (or $BIOGPT_DATA) when given, else where it was built from.
    A dataset defined by files names them itself: its definition's folder."""
    if manifest.get("definition"):
        return Path(manifest["definition"]["root"])
    root = data or os.environ.get("BIOGPT_DATA") or manifest["data"]
    path = Path(root) / manifest["folder"] / "raw"
    if not path.is_dir():
        raise UserError(f"{path}: no such directory (the data mirror moved? pass --data or set BIOGPT_DATA)")
    return path


def agree(what: str, given, recorded, source) -> None:
    """A value given on the command line must be the one the artifact records."""
    if given is not None and recorded is not None and given != recorded:
        raise UserError(f"{what} {given!r} contradicts {source}, which records {recorded!r}")


def main(argv=None) -> int:
    """python -m biogpt_fairseq.downstream.manifest TEXT_DIR DATA_BIN: the built text's manifest into a
    data directory, with where the text is."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("text", help="the directory biogpt-build wrote")
    parser.add_argument("data_bin", help="the binarized data directory")
    args = parser.parse_args(argv)
    manifest = read(Path(args.text))
    manifest["text"] = str(Path(args.text).resolve())
    manifest.pop("format")
    write(Path(args.data_bin), manifest)
    return 0


if __name__ == "__main__":
    from biogpt_fairseq.textio import run_cli

    run_cli(main)
