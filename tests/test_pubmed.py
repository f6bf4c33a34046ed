"""PubMed XML to corpus: counts, alignment, both layouts, streaming, bad input."""
import gzip
import tracemalloc

import pytest
from conftest import run_tool

from biogpt_fairseq.data.pubmed import convert, iter_citations


def test_medline_2016_excerpt_counts_and_alignment(data, tmp_path):
    out = tmp_path / "corpus.txt"
    result = run_tool("biogpt_fairseq.data.pubmed", data / "pubmed/medline16n0902.xml.gz", "--out", out)
    assert "read 604 citations, kept 526, dropped 78 (no title: 0, no abstract: 78, excluded: 0)" in result.stderr.decode()
    docs = out.read_text(encoding="utf-8").split("\n")[:-1]
    pmids = (tmp_path / "corpus.pmid").read_text().split("\n")[:-1]
    assert len(docs) == len(pmids) == 526
    assert pmids[0] == "17942999" and all(p.isdigit() for p in pmids)
    # Structured abstract: title first, then the sections in order, without their labels.
    first = docs[0]
    assert first.startswith("Neuroplasticity in the processing of pitch dimensions")
    assert first.index("An auditory electrophysiological study") < first.index("Mismatch negativity (MMN)") \
        < first.index("Two pitch dimensions were revealed") < first.index("The MMN can serve as an index")
    assert "PURPOSE" not in first


def test_current_pubmed_article_set_layout(data, tmp_path):
    citations = list(iter_citations(str(data / "pubmed/pubmed24_sample.xml.gz")))
    assert citations[0].pmid == "36400559"
    assert citations[0].title == "Back Pain: Differential Diagnosis and Management."
    assert citations[0].abstract.startswith("Back pain is a common condition")
    assert "6 weeks" in citations[0].abstract  # &#xa0; is whitespace, normalised
    assert "Copyright" not in citations[0].abstract


def _xml(records, layout="PubmedArticleSet"):
    body = []
    for pmid, title, abstract in records:
        citation = f"<MedlineCitation><PMID Version='1'>{pmid}</PMID><Article><ArticleTitle>{title}</ArticleTitle>"
        citation += f"<Abstract>{abstract}</Abstract>" if abstract is not None else ""
        citation += "</Article></MedlineCitation>"
        body.append(f"<PubmedArticle>{citation}<PubmedData/></PubmedArticle>" if layout == "PubmedArticleSet" else citation)
    root = "PubmedArticleSet" if layout == "PubmedArticleSet" else "MedlineCitationSet"
    return f"<?xml version='1.0'?><{root}>{''.join(body)}</{root}>".encode()


@pytest.mark.fast
def test_inline_markup_line_breaks_and_drop_reasons(tmp_path):
    xml = tmp_path / "a.xml"
    xml.write_bytes(_xml([
        ("1", "A <i>BRCA1</i> study", "<AbstractText>CO<sub>2</sub> rose.\r\nThen\u2028fell.</AbstractText>"),
        ("2", "", "<AbstractText>no title</AbstractText>"),
        ("3", "No abstract", None),
        ("4", "Excluded", "<AbstractText>test document</AbstractText>"),
        ("5", "Empty sections", "<AbstractText> </AbstractText>"),
    ]))
    counts = convert([str(xml)], str(tmp_path / "c.txt"), str(tmp_path / "c.pmid"), frozenset({"4"}))
    assert (tmp_path / "c.txt").read_text(encoding="utf-8") == "A BRCA1 study CO2 rose. Then fell.\n"
    assert (tmp_path / "c.pmid").read_text() == "1\n"
    assert counts == {"read": 5, "kept": 1, "dropped_no_title": 1, "dropped_no_abstract": 2, "dropped_excluded": 1}


@pytest.mark.parametrize("content, message", [
    (b"<PubmedArticleSet><PubmedArticle><MedlineCitation>\n<PMID>1</PMID>\n<Article></MedlineCitation>",
     "bad.xml:3:12: malformed XML: mismatched tag\n"),
    (b"", "bad.xml:1:1: malformed XML: no element found\n"),
    (b"<?xml version='1.0' encoding='UTF-8'?><PubmedArticleSet>\n\xff\xfe</PubmedArticleSet>",
     "bad.xml:2:1: malformed XML: not well-formed (invalid token)\n"),
])
@pytest.mark.fast
def test_bad_xml_is_a_clear_error_and_leaves_no_output(tmp_path, content, message):
    (tmp_path / "bad.xml").write_bytes(content)
    out = tmp_path / "corpus.txt"
    result = run_tool("biogpt_fairseq.data.pubmed", tmp_path / "bad.xml", "--out", out, check=False)
    stderr = result.stderr.decode()
    assert result.returncode == 2 and message in stderr and "Traceback" not in stderr
    assert not out.exists() and not (tmp_path / "corpus.pmid").exists()
    assert list(tmp_path.iterdir()) == [tmp_path / "bad.xml"]  # no temporary left behind


def test_missing_and_truncated_gzip_files(data, tmp_path):
    result = run_tool("biogpt_fairseq.data.pubmed", tmp_path / "nope.xml.gz", "--out", tmp_path / "c.txt", check=False)
    assert result.returncode == 2 and "nope.xml.gz: no such file" in result.stderr.decode()
    truncated = tmp_path / "cut.xml.gz"
    truncated.write_bytes((data / "pubmed/medline16n0902.xml.gz").read_bytes()[:50_000])
    result = run_tool("biogpt_fairseq.data.pubmed", truncated, "--out", tmp_path / "c.txt", check=False)
    assert result.returncode == 2 and "cut.xml.gz: cannot read" in result.stderr.decode()
    assert not (tmp_path / "c.txt").exists()


@pytest.mark.fast
def test_a_1mb_abstract_stays_one_line(tmp_path):
    xml = tmp_path / "big.xml.gz"
    xml.write_bytes(gzip.compress(_xml([("7", "Big", "<AbstractText>" + "kinase " * 150_000 + "</AbstractText>"),
                                        ("8", "Small", "<AbstractText>ok</AbstractText>")])))
    convert([str(xml)], str(tmp_path / "c.txt"), str(tmp_path / "c.pmid"))
    lines = (tmp_path / "c.txt").read_text().split("\n")
    assert len(lines) == 3 and len(lines[0]) > 1_000_000 and lines[1] == "Small ok"


@pytest.mark.parametrize("layout", ["PubmedArticleSet", "MedlineCitationSet"])
def test_memory_does_not_grow_with_file_size(tmp_path, layout):
    def peak_bytes(n_records):
        path = tmp_path / f"{n_records}.xml"
        path.write_bytes(_xml([(str(i), f"Title {i}", f"<AbstractText>Abstract {i} " + "word " * 200 + "</AbstractText>")
                               for i in range(n_records)], layout))
        tracemalloc.start()
        n = sum(1 for _ in iter_citations(str(path)))
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert n == n_records
        return peak

    small, large = peak_bytes(1_000), peak_bytes(16_000)
    assert large < 1.5 * small, (small, large)
