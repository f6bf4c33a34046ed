"""Documents in the formats biomedical tools exchange: streamed in, results streamed out.

Readers yield `Document`s, one at a time and in input order, from plain text (one
document per line), JSON lines, PubTator, BioC XML, BioC JSON and PubMed XML.
A record that cannot be read is yielded with its `error` (and where it is), so a
caller keeps every input position: nothing is dropped unseen. Writers render
extraction results as JSON lines, PubTator (title/abstract, mention lines with
character offsets where a name is found in the text, relation lines) and BioC
(XML or JSON: passages, annotations with locations, relations).

Offsets follow PubTator's and BioC's convention: the document text is the
title, one character, then the abstract (or the text alone, without a title).
"""
import json
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

from biogpt_fairseq.textio import LINE_LIMIT, UserError, json_line, open_binary, read_marked_lines

INPUT_FORMATS = ("text", "jsonl", "pubtator", "bioc-xml", "bioc-json", "pubmed-xml")
OUTPUT_FORMATS = ("jsonl", "pubtator", "bioc-xml", "bioc-json")


@dataclass
class Mention:
    """An annotated entity mention (PubTator mention line, BioC annotation)."""
    text: str
    type: str = ""
    identifier: str = ""  # PubTator's id column; BioC: the infons (see `infons`)
    ref: str = ""  # BioC annotation id
    infons: Dict[str, str] = field(default_factory=dict)


@dataclass
class Relation:
    """A relation as annotated: its infons (PubTator: {"type": ...}) and its arguments, each
    (role, reference): a BioC node (an annotation id) or PubTator's entity identifiers."""
    infons: Dict[str, str]
    nodes: List[Tuple[str, str]]
    by_identifier: bool = False


@dataclass
class Document:
    index: int  # position in the input, from 0
    id: str
    where: str  # "FILE:LINE" (or "FILE: document ID") for messages
    title: str = ""
    text: str = ""  # the abstract, with a title; else the whole text
    mentions: List[Mention] = field(default_factory=list)
    relations: List[Relation] = field(default_factory=list)
    record: dict = field(default_factory=dict)  # a JSON-lines record as read
    infons: Dict[str, str] = field(default_factory=dict)  # a BioC document's
    error: Optional[str] = None  # why the record could not be read

    @property
    def content(self) -> str:
        """The text the model reads: title and abstract joined as the original release joins them
        (a '. ' unless the title ends with a non-word character, then a space)."""
        if not self.title:
            return self.text
        if not self.text:
            return self.title
        return self.title + (" " if re.search(r"\W$", self.title) else ". ") + self.text

    @property
    def offset_text(self) -> str:
        """The text offsets count in: title, one character, abstract."""
        return f"{self.title} {self.text}" if self.title and self.text else self.title or self.text


# --- reading ---------------------------------------------------------------------------------------

def detect_format(path: str) -> str:
    """The input format of `path`, from its name and first bytes."""
    name = Path(path).name.lower().removesuffix(".gz")
    try:
        with open_binary(path) as stream:
            head = stream.read(4096).decode("utf-8", errors="replace")
    except (EOFError, OSError, zlib.error) as err:  # gzip's: truncated, not gzip at all
        raise UserError(f"{path}: cannot read: {err}") from None
    if name.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if name.endswith(".json"):
        return "bioc-json"
    if name.endswith(".xml") or head.lstrip().startswith("<"):
        if "<collection" in head:
            return "bioc-xml"
        if re.search(r"<(PubmedArticleSet|MedlineCitationSet|PubmedArticle|MedlineCitation)\b", head):
            return "pubmed-xml"
        raise UserError(f"{path}: XML, but neither a BioC collection nor PubMed XML (give --input-format)")
    first = next((line for line in head.splitlines() if line.strip()), "")
    if re.match(r"^[^\t|]+\|[ta]\|", first):
        return "pubtator"
    return "text"


def read_documents(path: str, fmt: Optional[str] = None) -> Iterator[Document]:
    """The documents of `path`, streamed in order."""
    fmt = fmt or detect_format(path)
    readers = {"text": _read_text, "jsonl": _read_jsonl, "pubtator": _read_pubtator, "bioc-xml": _read_bioc_xml,
               "bioc-json": _read_bioc_json, "pubmed-xml": _read_pubmed_xml}
    if fmt not in readers:
        raise UserError(f"unknown input format {fmt!r}: choose from {', '.join(INPUT_FORMATS)}")
    return readers[fmt](str(path))


def _refuse_nul(document: Document) -> Document:
    """A document whose text holds a NUL character (a JSON escape) marked unreadable: the C++ BPE
    downstream would cut the text there (a NUL byte in a line is refused as the line is read)."""
    if document.error is None and ("\0" in document.text or "\0" in document.title):
        document.error = "NUL character in the text"
    return document


def _read_text(path):
    for index, (lineno, line, problem) in enumerate(read_marked_lines(path, skip_bom=True)):
        yield Document(index, str(lineno), f"{path}:{lineno}", text="" if problem else line.strip(), error=problem)


TEXT_FIELDS = ("text", "context")


def _json_record(line: str):
    """(the record a JSON line holds, or None; why not)."""
    try:
        return json.loads(line), None
    except json.JSONDecodeError as err:
        return None, f"invalid JSON: {err.msg} at column {err.colno}"
    except RecursionError:  # the decoder recurses once per level: a hostile line
        return None, "invalid JSON: nested deeper than the parser allows"


def _read_jsonl(path):
    index = 0
    for lineno, line, problem in read_marked_lines(path, skip_bom=True):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        record, error = _json_record(line)
        if problem or error:
            doc_id = record.get("id", lineno) if isinstance(record, dict) else lineno  # the id, where one is legible
            yield Document(index, str(doc_id), where, error=problem or error)
            index += 1
            continue
        if not isinstance(record, dict):
            yield Document(index, str(lineno), where, error="not a JSON object")
            index += 1
            continue
        doc_id = str(record.get("id", lineno))
        text = next((record[k] for k in TEXT_FIELDS if k in record), None)
        title, abstract = record.get("title"), record.get("abstract")
        document = Document(index, doc_id, where, record=record)
        if not all(isinstance(v, (str, type(None))) for v in (text, title, abstract)):
            document.error = "'text', 'title' and 'abstract' must be strings"
        elif text is None and title is None and abstract is None:
            document.error = "no 'text' (nor 'title' and 'abstract')"
        elif text is not None:
            document.text = text.strip()
        else:
            document.title, document.text = (title or "").strip(), (abstract or "").strip()
        yield _refuse_nul(document)
        index += 1


_PUBTATOR_TEXT = re.compile(r"^([^\t|]*)\|([tTaA])\|(.*)$")


def _read_pubtator(path):
    """PubTator: `ID|t|title`, `ID|a|abstract`, mention lines `ID<TAB>start<TAB>end<TAB>text<TAB>type<TAB>id`,
    relation lines `ID<TAB>type<TAB>id1<TAB>id2`; documents separated by blank lines (or a new title)."""
    document, index, length, digits = None, 0, 0, 1  # length: of the document's offset text
    for lineno, line, problem in read_marked_lines(path, skip_bom=True):
        if not line.strip():
            if document is not None:
                yield document
                index += 1
                document = None
            continue
        match = _PUBTATOR_TEXT.match(line)
        if match:
            doc_id, part, value = match.group(1).strip(), match.group(2).lower(), match.group(3)
            starts_new = document is None or doc_id != document.id or (part == "t" and document.title)
            if starts_new:
                if document is not None:
                    yield document
                    index += 1
                document = Document(index, doc_id, f"{path}:{lineno}")
            if part == "t":
                document.title = value.strip()
            else:
                document.text = value.strip()
            length = len(document.offset_text)
            digits = len(str(length))  # an offset of fewer digits lies inside: int() only for the others
            if problem and document.error is None:  # an undecodable line: its document unreadable
                document.error = f"{path}:{lineno}: {problem}"
            continue
        fields = line.rstrip("\r").split("\t")
        if document is None or fields[0].strip() != document.id:
            if document is not None:
                yield document
                index += 1
            where = f"{path}:{lineno}"
            document = Document(index, fields[0].strip(), where,
                                error=f"{where}: an annotation line without its document's title line")
            continue
        if problem:
            document.error = document.error or f"{path}:{lineno}: {problem}"
            continue
        if len(fields) >= 6 and fields[1].isdecimal() and fields[2].isdecimal():  # ('²' is a digit, no decimal)
            end = fields[2]
            if len(end) >= digits and (len(end) > 15 or int(end) > length) and document.error is None:
                document.error = (f"{path}:{lineno}: a mention ending at {end[:20]}, outside the "
                                  f"document's {length} characters")
            identifiers, parts = fields[5].split("|"), fields[6].split("|") if len(fields) > 6 and fields[6] else []
            if len(identifiers) > 1 and len(parts) == len(identifiers):  # a composite mention with its parts' names
                document.mentions.extend(Mention(part, fields[4], identifier) for part, identifier in zip(parts, identifiers))
            else:
                document.mentions.append(Mention(fields[3], fields[4], fields[5]))
        elif len(fields) in (4, 5) and fields[1]:
            document.relations.append(Relation({"type": fields[1]}, [("", fields[2]), ("", fields[3])],
                                               by_identifier=True))
        elif document.error is None:
            document.error = f"{path}:{lineno}: neither a mention nor a relation line"
    if document is not None:
        yield document


def _bioc_document(bioc_doc, index: int, where: str) -> Document:
    document = Document(index, str(bioc_doc.id), where, infons=dict(bioc_doc.infons))
    texts = []
    annotations = list(bioc_doc.annotations)
    for passage in sorted(bioc_doc.passages, key=lambda p: p.offset):
        annotations += passage.annotations
        kind = (passage.infons.get("type") or passage.infons.get("section_type") or "").lower()
        if kind in ("title", "front") and not document.title and not texts:
            document.title = (passage.text or "").strip()
        elif passage.text:
            texts.append(passage.text.strip())
        for relation in passage.relations:
            document.relations.append(Relation(dict(relation.infons), [(n.role, n.refid) for n in relation.nodes]))
    document.text = " ".join(t for t in texts if t)
    for annotation in annotations:
        document.mentions.append(Mention(annotation.text or "", annotation.infons.get("type", ""),
                                         annotation.infons.get("identifier", ""), str(annotation.id),
                                         dict(annotation.infons)))
    for relation in bioc_doc.relations:
        document.relations.append(Relation(dict(relation.infons), [(n.role, n.refid) for n in relation.nodes]))
    return document


def _read_bioc_xml(path):
    from bioc.biocxml import BioCXMLDocumentReader
    from lxml import etree

    try:
        with open_binary(path) as stream:
            for index, bioc_doc in enumerate(BioCXMLDocumentReader(stream)):
                yield _bioc_document(bioc_doc, index, f"{path}: document {bioc_doc.id}")
    except etree.XMLSyntaxError as err:
        line, column = err.position
        raise UserError(f"{path}:{line}:{column}: malformed XML: {err.msg}") from None
    except (ValueError, KeyError, AttributeError, TypeError) as err:  # bioc's reader on a non-BioC structure
        raise UserError(f"{path}: not a BioC collection: {err}") from None
    except (EOFError, OSError, zlib.error) as err:  # gzip's: truncated, a failed CRC, corrupt data
        raise UserError(f"{path}: cannot read: {err}") from None


def _read_bioc_json(path):
    from bioc.biocjson.decoder import parse_doc

    for index, (offset_line, item) in enumerate(_json_array_items(path, "documents")):
        where = f"{path}:{offset_line}"
        try:
            yield _refuse_nul(_bioc_document(parse_doc(item), index, where))
        except (KeyError, TypeError, AttributeError) as err:
            yield Document(index, str(item.get("id", index)) if isinstance(item, dict) else str(index), where,
                           error=f"not a BioC document: {'missing ' if isinstance(err, KeyError) else ''}{err}")


def _json_array_items(path: str, key: str, chunk: int = 1 << 20) -> Iterator[Tuple[int, object]]:
    """(line, item) of the array under the top-level `key` of a JSON object, parsed one item at a
    time: a BioC JSON collection of any size in bounded memory."""
    decoder = json.JSONDecoder()
    with open_binary(path) as raw:
        import io

        stream = io.TextIOWrapper(raw, encoding="utf-8-sig")  # (a byte-order mark is not JSON)
        state = {"buf": "", "pos": 0, "eof": False, "line": 1}

        def more() -> bool:
            if state["eof"]:
                return False
            try:
                data = stream.read(chunk)
            except UnicodeDecodeError as err:
                raise UserError(f"{path}: invalid UTF-8: {err}") from None
            except (EOFError, OSError, zlib.error) as err:  # gzip's: truncated, a failed CRC, corrupt data
                raise UserError(f"{path}: cannot read: {err}") from None
            state["eof"] = not data
            consumed = state["buf"][:state["pos"]]
            state["line"] += consumed.count("\n")
            state["buf"], state["pos"] = state["buf"][state["pos"]:] + data, 0
            return bool(data)

        def fail(what):
            line = state["line"] + state["buf"][:state["pos"]].count("\n")
            raise UserError(f"{path}:{line}: not a BioC JSON collection: {what}")

        def peek() -> str:
            while True:
                buf, pos = state["buf"], state["pos"]
                while pos < len(buf) and buf[pos] in " \t\r\n":
                    pos += 1
                state["pos"] = pos
                if pos < len(buf):
                    return buf[pos]
                if not more():
                    return ""

        def expect(characters: str) -> str:
            found = peek()
            if not found or found not in characters:
                fail(f"expected {' or '.join(repr(c) for c in characters)}, found {found or 'the end of the file'!r}")
            state["pos"] += 1
            return found

        def value():
            peek()
            while True:
                try:
                    item, end = decoder.raw_decode(state["buf"], state["pos"])
                    if end < len(state["buf"]) or state["eof"]:
                        line = state["line"] + state["buf"][:state["pos"]].count("\n")
                        state["pos"] = end
                        return line, item
                except json.JSONDecodeError as err:
                    if state["eof"]:
                        fail(f"invalid JSON: {err.msg}")
                except RecursionError:  # the decoder recurses once per level: a hostile file
                    fail("invalid JSON: nested deeper than the parser allows")
                if len(state["buf"]) - state["pos"] > LINE_LIMIT:  # a gzip bomb: bounded memory
                    fail(f"a value longer than {LINE_LIMIT >> 20} MiB")
                if not more() and not state["eof"]:
                    fail("unexpected end of file")

        expect("{")
        if peek() == "}":
            return
        while True:
            _, name = value()
            if not isinstance(name, str):
                fail("a key that is not a string")
            expect(":")
            if name == key:
                expect("[")
                if peek() == "]":
                    state["pos"] += 1
                else:
                    while True:
                        yield value()
                        if expect(",]") == "]":
                            break
            else:
                value()
            if expect(",}") == "}":
                return


def _read_pubmed_xml(path):
    from biogpt_fairseq.data.pubmed import iter_citations

    for index, citation in enumerate(iter_citations(path)):
        yield Document(index, citation.pmid, f"{path}: citation {index + 1} (PMID {citation.pmid})",
                       title=citation.title, text=citation.abstract)


# --- names in text ----------------------------------------------------------------------------------

def find_spans(text: str, name: str) -> List[Tuple[int, int]]:
    """(start, end) of each occurrence of `name` in `text`: any case, any run of spaces where the
    name has one (a generated name is lower-cased and detokenized)."""
    words = name.split()
    if not words:
        return []
    pattern = r"\s+".join(re.escape(w) for w in words)
    return [(m.start(), m.end()) for m in re.finditer(rf"(?<!\w){pattern}(?!\w)" if name[0].isalnum() and
                                                       name[-1].isalnum() else pattern, text, re.IGNORECASE)]


# --- writing ------------------------------------------------------------------------------------------

KINDS = ("triples", "labels", "answer")


def result_row(document: Document, kind: str, value, parsed: bool, generated: str, status: str = "ok") -> dict:
    """One document's extraction result as a JSON-lines record: its id and input position, whether
    the model read it (`status`: "ok", "no text", or why the record could not be read), whether the
    generated sentence parsed, the value, and the generated line. Each triple carries the spans of
    its head and tail names in the document text (offsets as PubTator and BioC count them)."""
    row = {"id": document.id, "index": document.index, "status": status, "parsed": parsed, kind: value}
    if kind == "triples":
        text = document.offset_text
        boundary = len(document.title) if document.title and document.text else None
        found = {}
        for triple in value:
            for slot in ("head", "tail"):
                name = triple[slot]
                if name not in found:
                    found[name] = [[s, e] for s, e in find_spans(text, name) if boundary is None or not s <= boundary < e]
                triple[f"{slot}_spans"] = found[name]
    row["generated"] = generated
    return row


def _kind(row: dict) -> str:
    return next(kind for kind in KINDS if kind in row)


class JsonlWriter:
    def __init__(self, handle, **_):
        self.handle = handle

    def write(self, document: Document, row: dict) -> None:
        self.handle.write(json_line(row))

    def close(self) -> None:
        pass


def _identifier(triple: dict, slot: str) -> str:
    """The entity identifier of a triple's argument: the id decoding found, else its name. (Extraction
    decodes new text, for which no dataset has an entity map: its triples carry names alone.)"""
    return triple.get(f"{slot}_id") or triple[slot]


def _mentions(document: Document, row: dict, types: Tuple[str, str]):
    """(start, end, text, type, identifier) of every found head and tail name, in text order."""
    text, mentions = document.offset_text, set()
    for triple in row["triples"]:
        for slot, kind in zip(("head", "tail"), types):
            for start, end in triple[f"{slot}_spans"]:
                mentions.add((start, end, text[start:end], kind, _identifier(triple, slot)))
    return sorted(mentions)


def _one_line(text: str) -> str:
    return text.replace("\n", " ").replace("\r", " ")


def check_output(fmt: str, kind: str) -> None:
    """That `fmt` is an output format that holds results of `kind`."""
    if fmt not in OUTPUT_FORMATS:
        raise UserError(f"unknown output format {fmt!r}: choose from {', '.join(OUTPUT_FORMATS)}")
    if fmt == "pubtator" and kind != "triples":
        raise UserError(f"PubTator holds entities and relations, not {kind}: write jsonl or BioC")


class PubTatorWriter:
    """One block per document: title and abstract lines, a mention line for each place a head or
    tail name is found, one relation line per triple; a blank line between documents."""

    def __init__(self, handle, kind: str, types: Tuple[str, str] = ("Entity", "Entity"), **_):
        check_output("pubtator", kind)
        self.handle, self.types = handle, types

    def write(self, document: Document, row: dict) -> None:
        doc_id = document.id.replace("|", "/").replace("\t", " ")
        title, abstract = (document.title, document.text) if document.title else (document.text, "")
        lines = [f"{doc_id}|t|{_one_line(title)}", f"{doc_id}|a|{_one_line(abstract)}"]
        for start, end, mention, kind, identifier in _mentions(document, row, self.types):
            lines.append(f"{doc_id}\t{start}\t{end}\t{_one_line(mention)}\t{kind}\t{identifier}")
        for triple in row["triples"]:
            lines.append(f"{doc_id}\t{triple['relation']}\t{_identifier(triple, 'head')}\t{_identifier(triple, 'tail')}")
        self.handle.write("\n".join(lines) + "\n\n")

    def close(self) -> None:
        pass


def bioc_document(document: Document, row: dict, types: Tuple[str, str] = ("Entity", "Entity")):
    """The BioC document of a result: title and abstract passages (or the text), an annotation per
    place a head or tail name is found (a name not found: one annotation without a location, on
    the document), a relation per triple whose nodes point at the first annotation of each name;
    labels and an answer as document infons, with the status and whether the sentence parsed."""
    import bioc

    out = bioc.BioCDocument()
    out.id = document.id
    out.infons.update(status=row["status"], parsed=str(row["parsed"]).lower())
    if document.title:
        passages = [("title", 0, document.title), ("abstract", len(document.title) + 1, document.text)]
    else:
        passages = [("text", 0, document.text)]
    for kind, offset, text in passages:
        passage = bioc.BioCPassage()
        passage.infons["type"], passage.offset, passage.text = kind, offset, text
        out.add_passage(passage)
    kind = _kind(row)
    if kind == "labels":
        out.infons["labels"] = "|".join(row["labels"])
    elif kind == "answer":
        out.infons["answer"] = row["answer"] or ""
    if kind != "triples":
        return out
    text, first, count = document.offset_text, {}, 0
    for triple in row["triples"]:
        for slot, entity_type in zip(("head", "tail"), types):
            if (slot, triple[slot]) in first:
                continue
            for span in triple[f"{slot}_spans"] or [None]:
                annotation = bioc.BioCAnnotation()
                annotation.id, count = f"T{count}", count + 1
                annotation.infons.update(type=entity_type, identifier=_identifier(triple, slot))
                if span is None:
                    annotation.text = triple[slot]
                    out.add_annotation(annotation)
                else:
                    annotation.text = text[span[0]:span[1]]
                    annotation.add_location(bioc.BioCLocation(span[0], span[1] - span[0]))
                    out.passages[1 if len(passages) == 2 and span[0] > len(document.title) else 0].add_annotation(annotation)
                first.setdefault((slot, triple[slot]), annotation.id)
    for number, triple in enumerate(row["triples"]):
        relation = bioc.BioCRelation()
        relation.id = f"R{number}"
        relation.infons["type"] = triple["relation"]
        relation.add_node(bioc.BioCNode(first[("head", triple["head"])], "head"))
        relation.add_node(bioc.BioCNode(first[("tail", triple["tail"])], "tail"))
        out.add_relation(relation)
    return out


class BioCXmlWriter:
    def __init__(self, handle, types: Tuple[str, str] = ("Entity", "Entity"), source: str = "biogpt_fairseq", **_):
        import bioc
        from bioc.biocxml import BioCXMLDocumentWriter

        self.types, self.writer = types, BioCXMLDocumentWriter(handle)
        collection = bioc.BioCCollection()
        collection.source, collection.date, collection.key = source, _today(), "BioC.key"
        self.writer.write_collection_info(collection)

    def write(self, document: Document, row: dict) -> None:
        self.writer.write_document(bioc_document(document, row, self.types))

    def close(self) -> None:
        self.writer.close()


class BioCJsonWriter:
    """A BioC JSON collection, written one document at a time."""

    def __init__(self, handle, types: Tuple[str, str] = ("Entity", "Entity"), source: str = "biogpt_fairseq", **_):
        self.handle, self.types, self.first = handle, types, True
        header = json.dumps({"source": source, "date": _today(), "key": "BioC.key", "infons": {}})
        handle.write(header[:-1] + ', "documents": [\n')

    def write(self, document: Document, row: dict) -> None:
        from bioc.biocjson import toJSON

        data = json.dumps(toJSON(bioc_document(document, row, self.types)), ensure_ascii=False)
        self.handle.write(("" if self.first else ",\n") + data)
        self.first = False

    def close(self) -> None:
        self.handle.write("\n]}\n")


def _today() -> str:
    import datetime

    return datetime.date.today().strftime("%Y%m%d")


WRITERS = {"jsonl": JsonlWriter, "pubtator": PubTatorWriter, "bioc-xml": BioCXmlWriter, "bioc-json": BioCJsonWriter}
BINARY_OUTPUT = {"bioc-xml"}  # lxml's incremental writer takes a binary file


def output_format(path: str) -> str:
    """The output format a file name asks for."""
    name = Path(path).name.lower()
    if name.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if name.endswith((".pubtator", ".pubtator.txt")):
        return "pubtator"
    if name.endswith(".xml"):
        return "bioc-xml"
    if name.endswith(".json"):
        return "bioc-json"
    raise UserError(f"{path}: the file name does not say the output format: give --format ({', '.join(OUTPUT_FORMATS)})")
