#!/usr/bin/env python3
"""Decode generated sentences into triples / answers / labels: see biogpt_fairseq/downstream/postprocess.py."""
from biogpt_fairseq.downstream.postprocess import main
from biogpt_fairseq.textio import run_cli

if __name__ == "__main__":
    run_cli(main)
