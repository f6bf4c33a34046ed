"""Extraction's machinery: documents in, one result row per document out (`Extractor`), written in the
formats tools exchange; a file at a time through a journal that survives a kill (`extract_file`).

`biogpt-extract` (extract.py) runs it on a file, mining (mining.py) on many; the
API's `extract` and `extract_relations(format=...)` on what they are given.
"""
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional, Tuple

from biogpt_fairseq.downstream import DECODERS, resolve
from biogpt_fairseq.downstream.formats import (
    BINARY_OUTPUT, WRITERS, Document, check_output, detect_format, output_format, read_documents, result_row,
)
from biogpt_fairseq.textio import UserError, atomic_output, json_line

JOURNAL_FORMAT = 1
# Settings newer than some journals and manifests, and what those ran with: a run started before the
# setting existed resumes under its default and is refused under any other value.
SETTINGS_ADDED = {"beam_ranking": "fairseq"}
EMPTY = {"triples": [], "labels": [], "answer": None}


def documents_from(items: Iterable) -> Iterator[Document]:
    """Documents from what the API is given: Documents, texts, or records as JSON lines have them."""
    for index, item in enumerate(items):
        if isinstance(item, Document):
            yield item
        elif isinstance(item, str):
            yield Document(index, str(index), f"input {index}", text=item.strip())
        elif isinstance(item, dict):
            title, abstract = item.get("title"), item.get("abstract")
            text = item.get("text", item.get("context"))
            yield Document(index, str(item.get("id", index)), f"input {index}", title=(title or "").strip(),
                           text=(text if text is not None else abstract or "").strip(), record=item)
        else:
            raise UserError(f"input {index}: a text, a record (dict) or a Document, not {type(item).__name__}")


class Extractor:
    """A fine-tuned model and its dataset's spec: documents in, one result row per document out."""

    def __init__(self, model, decoder: str = "original", beam: int = 1, max_new_tokens: Optional[int] = None,
                 batch_docs: int = 64):
        if decoder not in DECODERS:
            raise UserError(f"unknown decoder {decoder!r}: choose from {', '.join(DECODERS)}")
        if batch_docs < 1:
            raise UserError("batch_docs must be at least 1")
        if not model.is_prompt_model or not model.dataset:
            raise UserError("extraction needs a fine-tuned model whose checkpoint names its dataset")
        self.model, self.decoder, self.beam = model, decoder, beam
        self.max_new_tokens, self.batch_docs = max_new_tokens, batch_docs
        self.spec = resolve(model.dataset, model.settings.get("definition"))
        self.variant = model.settings.get("variant") or "default"
        self.types = tuple(getattr(self.spec, "entity_types", ("Entity", "Entity")))

    def source(self, document: Document) -> Tuple[Optional[str], str]:
        """(what the model reads, or None; the status)."""
        if document.error is not None:
            return None, "unreadable"
        if self.spec.kind == "answer":
            question = document.record.get("question") if document.record else None
            if not isinstance(question, str) or not question.strip():
                return None, "no question"
            return self.spec.api_source(question, document.content, str(document.record.get("long_answer") or "")), "ok"
        if not document.content.strip():
            return None, "no text"
        return self.spec.api_source(document.content), "ok"

    def rows(self, documents: Iterable[Document]) -> Iterator[Tuple[Document, dict]]:
        """(document, its result row), in input order, a chunk of `batch_docs` documents at a time."""
        chunk = []
        for document in documents:
            chunk.append(document)
            if len(chunk) == self.batch_docs:
                yield from self._chunk(chunk)
                chunk = []
        if chunk:
            yield from self._chunk(chunk)

    def _chunk(self, documents: List[Document]) -> List[Tuple[Document, dict]]:
        sources = [self.source(d) for d in documents]
        tokens = self.model._encode([source for source, status in sources if status == "ok"])
        # Sources longer than the task's max_source_positions are cut as in fine-tuning: each row says so.
        cut = iter([len(t) - 1 > self.model.max_source_positions for t in tokens])
        lines = iter(self.model.complete_tokens(tokens, beam=self.beam, max_new_tokens=self.max_new_tokens)
                     if tokens else [])
        results = []
        for document, (source, status) in zip(documents, sources):
            if status != "ok":
                row = result_row(document, self.spec.kind, EMPTY[self.spec.kind], False, "", status)
                if document.error is not None:
                    row["error"] = f"{document.where}: {document.error}"
                results.append((document, row))
                continue
            line = next(lines)
            decoded = self.spec.decode(line, self.decoder, None, source, self.variant, self.model.layout)
            row = result_row(document, self.spec.kind, decoded.value, decoded.parsed, line)
            if next(cut):
                row["source_cut"] = self.model.max_source_positions
            results.append((document, row))
        return results


def write_results(handle, results: Iterable[Tuple[Document, dict]], fmt: str, extractor: Extractor) -> None:
    """(document, row) results into `handle` (binary for BINARY_OUTPUT formats) in `fmt`."""
    check_output(fmt, extractor.spec.kind)
    writer = WRITERS[fmt](handle, kind=extractor.spec.kind, types=extractor.types)
    for document, row in results:
        writer.write(document, row)
    writer.close()


def render(results: Iterable[Tuple[Document, dict]], fmt: str, extractor: Extractor) -> str:
    """(document, row) results as one string in `fmt`."""
    import io

    handle = io.BytesIO() if fmt in BINARY_OUTPUT else io.StringIO()
    write_results(handle, results, fmt, extractor)
    value = handle.getvalue()
    return value.decode("utf-8") if isinstance(value, bytes) else value


# --- a file: a journal that survives a kill -------------------------------------------------------

def _journal_rows(path: Path) -> Tuple[dict, List[int]]:
    """(header, the byte offset after each complete row) of a journal; a torn last line is not a row."""
    ends, header = [], None
    with open(path, "rb") as handle:
        offset = 0
        for raw in handle:
            offset += len(raw)
            if not raw.endswith(b"\n"):
                break
            try:
                record = json.loads(raw)
            except json.JSONDecodeError:
                break
            if header is None:
                header = record
            else:
                ends.append(offset)
    if header is None or header.get("journal") != JOURNAL_FORMAT:
        raise UserError(f"{path}: not a biogpt-extract journal (remove it to start again)")
    return header, ends


def settings_differ(before: dict, now: dict) -> List[str]:
    """'key: before, now' for each setting of `now` that a journal's or manifest's `before` contradicts."""
    return [f"{key}: {before.get(key, SETTINGS_ADDED.get(key))!r} before, {value!r} now" for key, value in now.items()
            if before.get(key, SETTINGS_ADDED.get(key)) != value]


def resume_point(journal: Path, wanted: dict, batch_docs: int) -> int:
    """How many documents the journal holds, cut back to its last whole chunk (so that a resumed
    run batches the rest exactly as an uninterrupted one); the journal truncated there."""
    header, ends = _journal_rows(journal)
    differ = settings_differ(header, wanted)
    if differ:
        raise UserError(f"{journal} was made with other settings ({'; '.join(differ)}): run the same command to "
                        "resume it, or remove it to start again")
    done = len(ends) // batch_docs * batch_docs
    with open(journal, "rb+") as handle:
        handle.seek(0)
        first = handle.readline()
        handle.truncate(ends[done - 1] if done else len(first))
    return done


def _journal_records(journal: Path) -> Iterator[dict]:
    with open(journal, encoding="utf-8") as handle:
        next(handle)
        for line in handle:
            yield json.loads(line)


def _matched(documents: Iterator[Document], rows: Iterator[dict], journal: Path) -> Iterator[Tuple[Document, dict]]:
    """Input documents and journal rows in step; any disagreement means the input changed."""
    for row in rows:
        document = next(documents, None)
        if document is None or document.id != row["id"] or document.index != row["index"]:
            found = "the end of the input" if document is None else f"document {document.index} ({document.id!r})"
            raise UserError(f"{journal} holds document {row['index']} ({row['id']!r}) where the input has {found}: "
                            "the input changed since; remove the journal to start again")
        yield document, row


def write_outputs(input_path: str, input_format: Optional[str], rows: Iterator[dict], outputs: Dict[str, str],
                  kind: str, types: Tuple[str, str], journal: Path) -> dict:
    """Each output ({format: path}) of one input from its documents, read again, and their rows (from
    `journal`), matched one to one; each written under a temporary name and renamed only when every
    document of the input has its row. Return the counts."""
    counts = {"documents": 0, "source_cut": 0}
    with contextlib.ExitStack() as stack:
        writers = []
        for fmt, path in outputs.items():
            check_output(fmt, kind)
            handle = stack.enter_context(atomic_output(path, "wb" if fmt in BINARY_OUTPUT else "w"))
            writers.append(WRITERS[fmt](handle, kind=kind, types=types))
        documents = read_documents(input_path, input_format)
        for document, row in _matched(documents, rows, journal):
            counts["documents"] += 1
            counts[row["status"]] = counts.get(row["status"], 0) + 1
            counts["parsed"] = counts.get("parsed", 0) + row["parsed"]
            counts["source_cut"] += "source_cut" in row
            for writer in writers:
                writer.write(document, row)
        unmatched = next(documents, None)
        if unmatched is not None:
            raise UserError(f"{journal} ends before document {unmatched.index} ({unmatched.id!r}) of the input: "
                            "the input changed since; remove the journal to start again")
        for writer in writers:
            writer.close()
    return counts


def extract_file(extractor: Extractor, input_path: str, out: str, fmt: Optional[str] = None,
                 input_format: Optional[str] = None, model_path: str = "", progress: bool = True,
                 also: Optional[Dict[str, str]] = None) -> dict:
    """Extract from every document of `input_path` into `out`, and into each of `also` ({format:
    path}) from the same results, resumable; return the counts."""
    from tqdm import tqdm

    input_format = input_format or detect_format(input_path)
    fmt = fmt or output_format(out)
    check_output(fmt, extractor.spec.kind)
    journal = Path(f"{out}.partial.jsonl")
    wanted = {"journal": JOURNAL_FORMAT, "input": str(Path(input_path).resolve()), "input_format": input_format,
              "model": model_path, "engine": extractor.model.engine.name, "dataset": extractor.spec.name,
              "decoder": extractor.decoder,
              "beam": extractor.beam, "beam_ranking": extractor.model.engine.beam_ranking,
              "dtype": extractor.model.dtype, "max_new_tokens": extractor.max_new_tokens,
              "batch_docs": extractor.batch_docs}
    done = resume_point(journal, wanted, extractor.batch_docs) if journal.exists() else 0
    if not done:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        with open(journal, "w", encoding="utf-8") as handle:
            handle.write(json_line(wanted))
    else:
        print(f"extract: resuming {journal}: {done} documents already done", file=sys.stderr)
    documents = read_documents(input_path, input_format)
    for _ in _matched(documents, _journal_records(journal), journal):
        pass  # the documents done: checked against the journal, not redone
    generated = 0
    with open(journal, "a", encoding="utf-8") as handle, \
            tqdm(initial=done, unit=" docs", file=sys.stderr, disable=not progress, mininterval=2) as bar:
        for index, (_, row) in enumerate(extractor.rows(documents)):
            handle.write(json_line(row))
            generated += row["status"] == "ok"
            if (index + 1) % extractor.batch_docs == 0:
                handle.flush()
                os.fsync(handle.fileno())
            bar.update(1)
    counts = write_outputs(input_path, input_format, _journal_records(journal), {fmt: out, **(also or {})},
                           extractor.spec.kind, extractor.types, journal)
    journal.unlink()
    return {**counts, "generated": generated, "resumed_after": done}
