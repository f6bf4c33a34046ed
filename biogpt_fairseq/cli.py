"""The console scripts `pip install` puts on the PATH: one per user command.

Each runs its tool's `main()` as a command line (a bad input is one `error:`
line and exit status 2); `python -m biogpt_fairseq.<module>` does the same.
"""
import importlib

from biogpt_fairseq.textio import run_cli

MODULES = {  # console script -> the module whose main() it runs
    "biogpt-pubmed": "data.pubmed",
    "biogpt-tokenize": "data.tokenize",
    "biogpt-vocab": "data.vocab",
    "biogpt-shards": "data.shards",
    "biogpt-build": "downstream.build",
    "biogpt-postprocess": "downstream.postprocess",
    "biogpt-evaluate": "downstream.evaluate",
    "biogpt-infer": "downstream.infer",
    "biogpt-extract": "downstream.extract",
    "biogpt-average-checkpoints": "tools.average_checkpoints",
    "biogpt-convert": "tools.convert",
    "biogpt-demo": "tools.demo",
}
COMMANDS = {script: module.split(".")[1] for script, module in MODULES.items()}  # script -> function here


def _command(module: str):
    def command() -> None:
        run_cli(importlib.import_module(f"biogpt_fairseq.{module}").main)
    return command


for _script, _module in MODULES.items():
    globals()[COMMANDS[_script]] = _command(_module)
