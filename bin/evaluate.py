#!/usr/bin/env python3
"""Score decoded predictions: see biogpt_fairseq/downstream/evaluate.py."""
from biogpt_fairseq.downstream.evaluate import main
from biogpt_fairseq.textio import run_cli

if __name__ == "__main__":
    run_cli(main)
