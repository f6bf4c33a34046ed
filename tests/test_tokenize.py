"""Tokenization: equal to the original's perl Moses (and but for one rule to Hugging Face's BioGptTokenizer),
aligned, ordered."""
import hashlib
import json
from pathlib import Path

import pytest
from conftest import run_tool, task_abstracts

from biogpt_fairseq.data.tokenize import tokenize_lines


def hf_tokenizer_from_release(data, tmp_path):
    """BioGptTokenizer built from the released fairseq dict.txt and fastBPE codes (as `convert to-hf` writes them)."""
    from transformers import BioGptTokenizer

    from biogpt_fairseq.models.hf_conversion import hf_vocab, merges_from_bpecodes, read_dict_symbols

    (tmp_path / "vocab.json").write_text(json.dumps(hf_vocab(read_dict_symbols(data / "biogpt/dict.txt"))))
    (tmp_path / "merges.txt").write_text("\n".join(merges_from_bpecodes(data / "biogpt/bpecodes")) + "\n")
    return BioGptTokenizer(str(tmp_path / "vocab.json"), str(tmp_path / "merges.txt"))


def as_fastbpe(hf_tokens):
    return " ".join(t[:-4] if t.endswith("</w>") else t + "@@" for t in hf_tokens)


# sha256 of what the original's tokenizer.perl -l en -a (moses-smt/mosesdecoder) writes for the 1,850
# titles and abstracts of task_abstracts(data), one per line; sacremoses 0.1.1 differs on 15 of them.
PERL_MOSES_SHA256 = "e27f1a5ef8caa02a595c9efb8515126a0cbbe0d8f2ee2f2ce12d246e8f69dd46"


def test_equals_the_originals_perl_tokenizer_on_real_abstracts(data):
    texts = task_abstracts(data)
    assert len(texts) == 1850
    moses = "".join(line + "\n" for line in tokenize_lines(texts))
    assert hashlib.sha256(moses.encode("utf-8")).hexdigest() == PERL_MOSES_SHA256
    # The escapes of Moses are what the released dictionary holds.
    assert "&amp;" in moses and "&apos;" in moses


def test_equals_hf_biogpt_tokenizer_but_for_a_lines_final_period(data, tmp_path):
    """BioGptTokenizer is sacremoses, which keeps the period on a line's last word where it is an
    abbreviation or holds a period and a letter ('MM.', 'A.', 'b.d.'); perl, the original, splits it."""
    from sacremoses import MosesTokenizer

    hf = hf_tokenizer_from_release(data, tmp_path)
    texts = task_abstracts(data, limit_per_split=300)
    assert len(texts) == 300 + 191 + 300  # DDI test has 191 documents
    ours = list(tokenize_lines(texts, bpe_codes=str(data / "biogpt/bpecodes")))
    assert len(ours) == len(texts)
    mismatches = [(t, o) for t, o in zip(texts, ours) if o != as_fastbpe(hf.tokenize(t))]
    sacremoses = MosesTokenizer(lang="en")
    last_words = [sacremoses.tokenize(t, aggressive_dash_splits=True, escape=True)[-1] for t in texts]
    kept = [t for t, word in zip(texts, last_words) if word.endswith(".") and word.strip(".")]
    assert [t for t, _ in mismatches] == kept and len(kept) == 6
    assert all(o.endswith(" .") for _, o in mismatches)


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_one_line_out_per_line_in_any_worker_count(data, tmp_path, workers):
    lines = ["", "Aspirin inhibits COX-1.", "   ", "", "tab\there", "cr\rinside", "ls\u2028inside", "中文 text"] * 200
    src = tmp_path / "in.txt"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8", newline="\n")
    out = tmp_path / "out.bpe"
    run_tool("biogpt_fairseq.data.tokenize", "--bpe-codes", data / "biogpt/bpecodes", "--workers", workers, src, "-o", out)
    got = out.read_bytes().split(b"\n")
    assert got[-1] == b"" and len(got) - 1 == len(lines)
    got = [g.decode() for g in got[:-1]]
    assert got == list(tokenize_lines(lines, bpe_codes=str(data / "biogpt/bpecodes")))
    assert got[0] == "" and got[2] == "   " and got[1] == "Aspirin inhibits COX @-@ 1 ."  # perl keeps blank lines
    assert all("\r" not in g and "\u2028" not in g for g in got)


def test_moses_only_then_bpe_only_equals_both_at_once(data, tmp_path):
    texts = task_abstracts(data, limit_per_split=20)
    codes = str(data / "biogpt/bpecodes")
    moses = list(tokenize_lines(texts))
    assert list(tokenize_lines(moses, bpe_codes=codes, moses=False)) == list(tokenize_lines(texts, bpe_codes=codes))


@pytest.mark.parametrize(
    "content, message",
    [
        (b"ok\n\xff\xfe bad\n", "in.txt:2: invalid UTF-8"),
        (b"ok\nnul\x00byte\n", "in.txt:2: NUL byte"),
    ],
)
def test_bad_input_is_a_clear_error_naming_file_and_line(data, tmp_path, content, message):
    src = tmp_path / "in.txt"
    src.write_bytes(content)
    out = tmp_path / "out.bpe"
    result = run_tool("biogpt_fairseq.data.tokenize", "--bpe-codes", data / "biogpt/bpecodes", src, "-o", out, check=False)
    assert result.returncode == 2
    assert message in result.stderr.decode() and "Traceback" not in result.stderr.decode()
    assert not out.exists() and not list(tmp_path.glob("out.bpe.tmp*"))


@pytest.mark.fast
def test_missing_or_malformed_codes_file(tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("hello\n")
    result = run_tool("biogpt_fairseq.data.tokenize", "--bpe-codes", tmp_path / "nope", src, check=False)
    assert result.returncode == 2 and "nope: no such file" in result.stderr.decode()
    (tmp_path / "bad").write_text("t i 10\nnot a codes line at all\n")
    result = run_tool("biogpt_fairseq.data.tokenize", "--bpe-codes", tmp_path / "bad", src, check=False)
    assert result.returncode == 2 and "bad:2: not a fastBPE codes line" in result.stderr.decode()


def test_empty_file_and_a_1mb_line(data, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert run_tool("biogpt_fairseq.data.tokenize", "--bpe-codes", data / "biogpt/bpecodes", empty).stdout == b""
    big = tmp_path / "big.txt"
    big.write_text("short\n" + "protein kinase " * 70_000 + "\nend\n")
    out = run_tool("biogpt_fairseq.data.tokenize", "--bpe-codes", data / "biogpt/bpecodes", big).stdout.split(b"\n")
    assert len(out) == 4 and out[1].count(b"kinase") == 70_000 and out[2] == b"end"


def test_english_moses_equals_sacremoses_but_for_the_last_words_period(data):
    """The set-lookup character tests change nothing: real abstracts and every prefix rule; the
    one rule added is perl's: a line's last word loses its final period."""
    from sacremoses import MosesTokenizer

    from biogpt_fairseq.data.tokenize import english_moses

    stock, ours = MosesTokenizer(lang="en"), english_moses()
    crafted = ["e.g. the dose", "Dr. Smith et al. reported", "No. 5 and No. five", "U.S.A. is", "A.B. Élan",
               "the end.", "ça. Ça.", "Fig. 3", "x. éa", "ß. ẞ.", "α. β. Ω.", "Mr. . x", "", "3.5. 4.", "i.v. ÉTÉ."]
    for text in crafted + task_abstracts(data):
        expected = stock.tokenize(text, aggressive_dash_splits=True, escape=True)
        if expected and expected[-1].endswith(".") and expected[-1].strip("."):  # ('..' is Moses' multi-dot)
            expected[-1:] = [expected[-1][:-1], "."]
        assert ours.tokenize(text, aggressive_dash_splits=True, escape=True) == expected, text
    # perl's outputs for lines that end with an abbreviation (tokenizer.perl -l en -a)
    assert ours.tokenize("treated with 100 mg b.i.d.", aggressive_dash_splits=True, escape=True)[-2:] == ["b.i.d", "."]
    assert ours.tokenize("et al.", aggressive_dash_splits=True, escape=True) == ["et", "al", "."]
    assert ours.tokenize("ends with ....", aggressive_dash_splits=True, escape=True) == ["ends", "with", "...."]
    for word in ["", "a", "A", "é", "É", "aB", "ß", "ﬁ", "1", "a1", "α", "Ω", "中", "-", "x.y"]:
        assert ours.islower(word) == stock.islower(word), word
        assert ours.isanyalpha(word) == stock.isanyalpha(word), word
    assert ours.perl.isanyalpha("中") and ours.perl.islower("𝛽")  # perl's classes, for lines that hold them


EDGE_CASES = Path(__file__).parent / "data" / "moses_edge_cases"


def test_equals_perl_on_cjk_runs_blank_lines_and_letters_sacremoses_lacks(data, tmp_path):
    """tokenizer.perl -l en -a -threads 1 (moses-smt/mosesdecoder 34452895f, perl 5.36) and then
    `fast applybpe` with the released codes wrote the .perl.tok and .perl.bpe files for these lines:
    a run of CJK characters is one word (sacremoses splits each character off), a line of whitespace
    is written as it is (tabs and all), \\x1c-\\x1f are deleted, not spaces, an astral letter (𝛽)
    is a letter and an Indic virama is not."""
    codes = data / "biogpt/bpecodes"
    for options, suffix in (([], "tok"), (["--bpe-codes", codes], "bpe")):
        out = tmp_path / f"out.{suffix}"
        run_tool("biogpt_fairseq.data.tokenize", *options, "--workers", 2, f"{EDGE_CASES}.txt", "-o", out)
        assert out.read_bytes() == Path(f"{EDGE_CASES}.perl.{suffix}").read_bytes(), suffix
