"""PubMed/MEDLINE XML to a pre-training corpus: one document per line.

    python -m biogpt_fairseq.data.pubmed FILE.xml[.gz] [FILE ...] --out DIR/corpus.txt

writes DIR/corpus.txt (title, then the abstract; the sections of a structured
abstract joined in order, without their labels) and DIR/corpus.pmid, aligned
line by line, in input order. Citations without a title or without an
abstract are dropped, as in the BioGPT paper, and counted; so are citations
whose PMID is listed in --exclude-pmids (e.g. downstream test documents, to
keep them out of pre-training). Both the 2016
`MedlineCitationSet` and the current `PubmedArticleSet` layouts are read. The
XML is streamed, so memory does not grow with the size of a file.
"""
import argparse
import collections
import os
import re
import sys
import xml.etree.ElementTree as ET
from typing import Counter, Iterator, NamedTuple, Optional

from biogpt_fairseq.textio import UserError, atomic_output, open_binary, read_lines, run_cli


class Citation(NamedTuple):
    pmid: str
    title: str
    abstract: str


def _text(element: Optional[ET.Element]) -> str:
    """All text below `element` (inline markup such as <i> kept as text), on one line."""
    if element is None:
        return ""
    # str.split() also splits on \r, U+2028, U+00A0...: a document must stay one line.
    return " ".join("".join(element.itertext()).split())


def parse_citation(citation: ET.Element) -> Citation:
    article = citation.find("Article")
    abstract = article.find("Abstract") if article is not None else None
    sections = abstract.findall("AbstractText") if abstract is not None else []
    return Citation(
        pmid=_text(citation.find("PMID")),
        title=_text(article.find("ArticleTitle") if article is not None else None),
        abstract=" ".join(filter(None, (_text(s) for s in sections))),
    )


def iter_citations(path: str) -> Iterator[Citation]:
    """Stream the citations of one XML file, freeing each once it is read."""
    with open_binary(path) as stream:
        depth = 0
        root = None
        try:
            for event, element in ET.iterparse(stream, events=("start", "end")):
                if event == "start":
                    depth += 1
                    root = element if root is None else root
                    continue
                depth -= 1
                if element.tag == "MedlineCitation":
                    yield parse_citation(element)
                    element.clear()
                if depth == 1:  # a finished <MedlineCitation> or <PubmedArticle>
                    root.clear()
        except ET.ParseError as err:
            line, column = err.position
            reason = re.sub(r": line \d+, column \d+$", "", err.msg)  # expat repeats the position
            raise UserError(f"{path}:{line}:{column + 1}: malformed XML: {reason}") from None
        except (OSError, EOFError) as err:  # e.g. a truncated .gz
            raise UserError(f"{path}: cannot read: {err}") from None


def convert(paths, out_txt: str, out_pmid: str, exclude_pmids=frozenset()) -> Counter:
    """Write the kept citations of `paths`; return counts read / kept / dropped by reason."""
    counts: Counter = collections.Counter({"dropped_no_title": 0, "dropped_no_abstract": 0, "dropped_excluded": 0})
    with atomic_output(out_txt) as txt, atomic_output(out_pmid) as pmids:
        for path in paths:
            for citation in iter_citations(path):
                counts["read"] += 1
                if citation.pmid in exclude_pmids:
                    counts["dropped_excluded"] += 1
                elif not citation.title:
                    counts["dropped_no_title"] += 1
                elif not citation.abstract:
                    counts["dropped_no_abstract"] += 1
                else:
                    counts["kept"] += 1
                    txt.write(f"{citation.title} {citation.abstract}\n")
                    pmids.write(f"{citation.pmid}\n")
    return counts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("xml", nargs="+", help="PubMed/MEDLINE XML files, optionally gzipped")
    parser.add_argument("--out", required=True, help="output corpus, one document per line; "
                        "the PMIDs go to the same name with the extension .pmid")
    parser.add_argument("--exclude-pmids", help="file of PMIDs (one per line) to leave out")
    args = parser.parse_args(argv)
    out_pmid = os.path.splitext(args.out)[0] + ".pmid"
    exclude = frozenset(line.strip() for _, line in read_lines(args.exclude_pmids)) if args.exclude_pmids else frozenset()
    counts = convert(args.xml, args.out, out_pmid, exclude)
    reasons = {k: v for k, v in counts.items() if k.startswith("dropped_")}
    details = ", ".join(f"{k[len('dropped_'):].replace('_', ' ')}: {v}" for k, v in reasons.items())
    print(
        f"pubmed: read {counts['read']} citations, kept {counts['kept']}, "
        f"dropped {sum(reasons.values())} ({details}) -> {args.out}, {out_pmid}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    run_cli(main)
