"""Vocabulary learning: fastBPE's learner, guarded; the dictionary fairseq builds."""
import pytest
from conftest import run_tool

from biogpt_fairseq.data.tokenize import tokenize_lines
from biogpt_fairseq.data.vocab import learn_bpe


@pytest.mark.fast
def test_learns_codes_and_stops_when_pairs_run_out(tmp_path):
    corpus = tmp_path / "c.tok"
    corpus.write_text("ab ab abc\n")
    assert learn_bpe(str(corpus), 100, str(tmp_path / "codes")) == 3
    assert (tmp_path / "codes").read_text() == "a b</w> 2\na b 1\nab c</w> 1\n"


@pytest.mark.fast
def test_empty_corpus_is_an_error_not_a_crash(tmp_path):
    (tmp_path / "empty.tok").write_text("\n  \n")
    result = run_tool("biogpt_fairseq.data.vocab", "learn-bpe", tmp_path / "empty.tok", "-o", tmp_path / "codes", check=False)
    assert result.returncode == 2 and "empty.tok: no words to learn BPE codes from" in result.stderr.decode()
    assert not (tmp_path / "codes").exists()


def test_learned_vocabulary_round_trip(data, tmp_path):
    text = (data / "BC5CDR/raw/train.json").read_text()[:200_000].replace("\\n", " ").split(". ")
    tok = tmp_path / "c.tok"
    tok.write_text("\n".join(tokenize_lines(text)) + "\n")
    run_tool("biogpt_fairseq.data.vocab", "learn-bpe", tok, "--merges", 500, "-o", tmp_path / "codes")
    codes = (tmp_path / "codes").read_text().splitlines()
    assert len(codes) == 500 and all(int(line.split()[2]) > 0 for line in codes)
    bpe = tmp_path / "c.bpe"
    bpe.write_text("\n".join(tokenize_lines(tok.read_text().splitlines(), str(tmp_path / "codes"), moses=False)) + "\n")
    run_tool("biogpt_fairseq.data.vocab", "build-dict", bpe, "-o", tmp_path / "dict.txt")
    entries = [line.rsplit(" ", 1) for line in (tmp_path / "dict.txt").read_text().splitlines()]
    counts = [int(c) for _, c in entries]
    words = {w for w, c in entries if int(c) > 0}
    assert counts[:-8] == sorted(counts[:-8], reverse=True)
    # every token of the BPE'd corpus is in the dictionary, with its count
    corpus_tokens = bpe.read_text().split()
    assert set(corpus_tokens) == words
    assert dict((w, int(c)) for w, c in entries)["the"] == corpus_tokens.count("the")
    assert (len(entries) + 4) % 8 == 0  # fairseq's padding factor
