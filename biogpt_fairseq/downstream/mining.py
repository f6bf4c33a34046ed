"""Many input files, one command: `biogpt-extract MODEL INPUT... --out DIR/`, here or on Ray Data.

Each input file gets its outputs under DIR (the input's name, less `.gz` and its
extension, with each output format's extension) and an entry in DIR/manifest.json
once they are complete: its checksum, document count, statuses and figures. The
manifest also holds the settings that decide the outputs (model, engine,
precision, decoding), so the same command again skips every file whose entry
matches its input's checksum and outputs, and redoes a file whose input changed;
other settings are refused rather than mixed into one directory.

Without Ray the files run one after another in this process (`extract_file`, with
its journal). With `--ray` the job runs on Ray Data: one CPU task per file reads
and parses it into chunks of `batch_docs` documents, exactly the chunks
single-process extraction generates together (so fairseq's batches by token
budget within a chunk, and the results, are the same), a pool of actors, each
holding one engine, generates them, and this process (the driver) spools each
file's rows as they come, in any order, and writes its outputs once every chunk
is in and its rows match the input's documents one to one. Ray retries the work
of a killed worker; a chunk that comes twice is taken once.
"""
import glob
import hashlib
import json
import os
import pickle
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

from biogpt_fairseq.downstream.extraction import Extractor, extract_file, settings_differ, write_outputs
from biogpt_fairseq.downstream.formats import OUTPUT_FORMATS, check_output, detect_format, read_documents
from biogpt_fairseq.downstream.infer import ORIGINAL_MAX_TOKENS
from biogpt_fairseq.textio import UserError, atomic_output, json_line

MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
EXTENSIONS = {"jsonl": ".jsonl", "pubtator": ".pubtator", "bioc-xml": ".xml", "bioc-json": ".json"}
RAY_INSTALL = "pip install 'ray[data]'"
# Parsing an abstract costs a fraction of a percent of generating for it: the reading tasks run
# beside the actors instead of holding a CPU of their own (which the actors would leave none of),
# a few at a time.
READ_CPUS, READERS = 0, 2
CHUNK_BLOCK_BYTES = 1024
PROGRESS_EVERY = 5.0  # seconds between progress lines


@dataclass(frozen=True)
class Job:
    """What decides the outputs: the model, its engine and precision, decoding and chunking."""
    model: str
    data_bin: Optional[str] = None
    engine: str = "fairseq"
    dtype: str = "fp32"
    beam_ranking: str = "fairseq"
    decoder: str = "original"
    beam: int = 1
    max_new_tokens: Optional[int] = None
    batch_docs: int = 64
    formats: Tuple[str, ...] = ("jsonl",)
    input_format: Optional[str] = None
    device: Optional[str] = field(default=None, compare=False)

    def settings(self) -> dict:
        settings = asdict(self)
        del settings["device"]  # where it runs, not what it computes
        settings["formats"] = list(self.formats)
        return settings


def load_model(job: Job, threads: Optional[int] = None):
    """The job's model, batched by the original's token budget."""
    from biogpt_fairseq.generator import Generator  # (torch, loaded where a model is)

    return Generator.from_pretrained(job.model, data=job.data_bin, dtype=job.dtype, engine=job.engine,
                                     device=job.device, threads=threads, max_tokens=ORIGINAL_MAX_TOKENS,
                                     beam_ranking=job.beam_ranking)


class TokenCount:
    """The tokens `model` generates (`BioGPT.generated_tokens`): extraction rows hold the decoded text,
    which does not re-encode to the same tokens."""

    def __init__(self, model):
        self.model, self.counted = model, model.generated_tokens

    def take(self) -> int:
        """The tokens generated since the last call."""
        total, self.counted = self.model.generated_tokens - self.counted, self.model.generated_tokens
        return total


# --- the plan: inputs, outputs, what is already done ----------------------------------------------

def expand_inputs(patterns: List[str]) -> List[str]:
    """The files named or matched by `patterns`, in the order given (each glob's matches sorted), once
    each, as absolute paths (Ray's workers do not run in our directory)."""
    found = []
    for pattern in patterns:
        matches = [pattern] if os.path.exists(pattern) else sorted(glob.glob(pattern))
        if not matches:
            raise UserError(f"{pattern}: no such file")
        found += [m for m in map(os.path.abspath, matches) if m not in found]
    return found


def output_name(input_path: str, fmt: str) -> str:
    """An input's name less `.gz` and its last extension, with the output format's."""
    name = Path(input_path).name
    name = name[:-3] if name.endswith(".gz") else name
    return Path(name).stem + EXTENSIONS[fmt]


def plan_outputs(inputs: List[str], out_dir: Path, formats: Tuple[str, ...]) -> Dict[str, Dict[str, str]]:
    """{input: {format: output path}}; two inputs of one name, or an output over an input, refused."""
    plan, owner = {}, {}
    sources = {os.path.realpath(p) for p in inputs}
    for path in inputs:
        plan[path] = {fmt: str(out_dir / output_name(path, fmt)) for fmt in formats}
        for out in plan[path].values():
            if out in owner:
                raise UserError(f"{path} and {owner[out]} would both be written to {out}: rename one, or run them "
                                "into different --out directories")
            if os.path.realpath(out) in sources:
                raise UserError(f"{out} is an input: choose an --out directory apart from the inputs")
            owner[out] = path
    return plan


def checksum(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(out_dir: Path, settings: dict) -> dict:
    """The files a previous run of the same settings finished, {input: entry}; {} for a new directory."""
    path = out_dir / MANIFEST
    if not path.exists():
        return {}
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise UserError(f"{path}: invalid JSON ({err}): remove it to start again") from None
    if manifest.get("format") != MANIFEST_FORMAT:
        raise UserError(f"{path}: not a biogpt-extract manifest of format {MANIFEST_FORMAT}")
    differ = settings_differ(manifest["settings"], settings)
    if differ:
        raise UserError(f"{out_dir} holds outputs of other settings ({'; '.join(differ)}): give another --out, or "
                        "remove the directory to start again")
    return manifest["files"]


def write_manifest(out_dir: Path, settings: dict, files: dict) -> None:
    with atomic_output(str(out_dir / MANIFEST)) as handle:
        json.dump({"format": MANIFEST_FORMAT, "settings": settings, "files": files}, handle, indent=1)
        handle.write("\n")


def finished(entry: Optional[dict], digest: str, outputs: Dict[str, str]) -> bool:
    return bool(entry) and "error" not in entry and entry["sha256"] == digest and \
        all(os.path.exists(path) for path in outputs.values())


def file_entry(digest: str, outputs: Dict[str, str], counts: dict, out_dir: Path, **figures) -> dict:
    """A finished file's manifest entry from its counts (statuses counted at the top level)."""
    statuses = {key: value for key, value in counts.items()
                if key not in ("documents", "generated", "resumed_after", "parsed", "source_cut")}
    return {"sha256": digest, "outputs": {fmt: os.path.relpath(path, out_dir) for fmt, path in outputs.items()},
            "documents": counts["documents"], "statuses": statuses, "parsed": counts.get("parsed", 0),
            "source_cut": counts["source_cut"], **figures}


# --- the job -----------------------------------------------------------------------------------------

class Progress:
    """Documents and tokens per second for the whole job, and files done of files total, on stderr."""

    def __init__(self, files: int, show: bool):
        self.files, self.show = files, show
        self.done = self.failed = self.documents = self.tokens = 0
        self.start = self.shown = time.time()

    def add(self, documents: int, tokens: int) -> None:
        self.documents += documents
        self.tokens += tokens
        if time.time() - self.shown >= PROGRESS_EVERY:
            self.print()

    def file_done(self) -> None:
        self.done += 1
        self.print()

    def file_failed(self) -> None:
        self.failed += 1
        self.print()

    def print(self) -> None:
        self.shown = time.time()
        if self.show:
            seconds = max(self.shown - self.start, 1e-9)
            failed = f", {self.failed} failed" if self.failed else ""
            print(f"mining: {self.done}/{self.files} files{failed}, "
                  f"{self.documents} documents ({self.documents / seconds:.1f}/s), "
                  f"{self.tokens} new tokens ({self.tokens / seconds:.1f}/s), {seconds:.0f} s", file=sys.stderr,
                  flush=True)


def run_job(job: Job, patterns: List[str], out_dir: str, ray_address: Optional[str] = None, workers: int = 1,
            threads: Optional[int] = None, gpus: float = 0, progress: bool = True) -> dict:
    """Extract from every input file into `out_dir`, skipping those a previous run finished; return
    the manifest's files ({input: entry}; an entry with "error" for a file that could not be read)."""
    for fmt in job.formats:
        if fmt not in OUTPUT_FORMATS:
            raise UserError(f"unknown output format {fmt!r}: choose from {', '.join(OUTPUT_FORMATS)}")
    out = Path(out_dir)
    inputs = expand_inputs(patterns)
    outputs = plan_outputs(inputs, out, job.formats)
    out.mkdir(parents=True, exist_ok=True)
    settings = job.settings()
    previous = read_manifest(out, settings)
    files, todo = {}, []
    for path in inputs:
        key, digest = path, checksum(path)
        if finished(previous.get(key), digest, outputs[path]):
            files[key] = previous[key]
        else:
            todo.append((path, digest))
    write_manifest(out, settings, files)  # entries of inputs no longer given, or changed, dropped
    print(f"mining: {len(inputs)} files -> {out}: {len(inputs) - len(todo)} finished before (skipped), "
          f"{len(todo)} to do" + (f" on Ray ({ray_address})" if ray_address else " in this process"),
          file=sys.stderr, flush=True)
    if todo:
        run = (lambda: _run_on_ray(job, todo, outputs, out, ray_address, workers, threads, gpus, progress)) \
            if ray_address else (lambda: _run_here(job, todo, outputs, out, threads, progress))
        for path, entry in run():
            files[path] = entry
            write_manifest(out, settings, files)
    return files


def _run_here(job: Job, todo, outputs, out: Path, threads, progress) -> Iterator[Tuple[str, dict]]:
    """The files one after another in this process, each resumable from its journal."""
    model = load_model(job, threads)
    tokens = TokenCount(model)
    extractor = Extractor(model, job.decoder, job.beam, job.max_new_tokens, job.batch_docs)
    status = Progress(len(todo), progress)
    for path, digest in todo:
        start = time.time()
        first, *more = job.formats
        try:
            counts = extract_file(extractor, path, outputs[path][first], first, job.input_format, job.model,
                                  progress=progress, also={fmt: outputs[path][fmt] for fmt in more})
        except UserError as err:  # the input's fault: its journal is no use to a later run
            tokens.take()
            Path(f"{outputs[path][first]}.partial.jsonl").unlink(missing_ok=True)
            status.file_failed()
            yield path, {"sha256": digest, "error": str(err)}
            continue
        generated = tokens.take()
        status.add(counts["documents"], generated)
        status.file_done()
        yield path, file_entry(digest, outputs[path], counts, out, new_tokens=generated,
                               seconds=round(time.time() - start, 3))


# --- on Ray Data -------------------------------------------------------------------------------------

def import_ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise UserError(f"--ray needs Ray Data, which is not installed here: {RAY_INSTALL}") from None
    return ray


def connect(ray, address: str) -> bool:
    """Join the cluster at `address` ('auto': the one this machine is part of), or start a local
    instance on this machine's cores for 'local'; whether we started it (and so stop it)."""
    if ray.is_initialized():
        return False
    quiet = {"log_to_driver": False, "logging_level": "WARNING"}  # workers' library logs stay in Ray's log files
    if address == "local":
        context = ray.init(address="local", num_cpus=os.cpu_count(), **quiet)
    else:
        context = ray.init(address=address, **quiet)
    if getattr(context, "dashboard_url", None):
        print(f"mining: Ray's dashboard: http://{context.dashboard_url}", file=sys.stderr, flush=True)
    return address == "local"


def _chunks(documents, size: int):
    chunk = []
    for document in documents:
        chunk.append(document)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _chunk_row(file: int, number: int, documents=(), total_chunks=-1, total_documents=-1, error="") -> dict:
    return {"file": file, "chunk": number, "total_chunks": total_chunks, "total_documents": total_documents,
            "payload": pickle.dumps(list(documents)), "error": error}


def read_chunks(item: dict, input_format: Optional[str], batch_docs: int) -> Iterator[dict]:
    """(A Ray task) one input file's documents in chunks of `batch_docs`, as single-process extraction
    chunks them; the last chunk says how many chunks and documents there are (an empty file: one
    empty chunk). A file that cannot be read: a row with the error."""
    try:
        fmt = input_format or detect_format(item["path"])
        chunks = _chunks(read_documents(item["path"], fmt), batch_docs)
        held, number, count = next(chunks, []), 0, 0
        for chunk in chunks:
            yield _chunk_row(item["file"], number, held)
            number, count, held = number + 1, count + len(held), chunk
        yield _chunk_row(item["file"], number, held, number + 1, count + len(held))
    except UserError as err:
        yield _chunk_row(item["file"], -1, error=str(err))


class ExtractionWorker:
    """(A Ray actor) one engine: a chunk of documents in, their result rows (JSON lines) out."""

    def __init__(self, job: Job, threads: Optional[int]):
        model = load_model(job, threads)
        self.tokens = TokenCount(model)
        self.extractor = Extractor(model, job.decoder, job.beam, job.max_new_tokens, job.batch_docs)

    def __call__(self, chunk: dict) -> dict:
        documents = [] if chunk["error"] else pickle.loads(chunk["payload"])
        start = time.perf_counter()
        results = list(self.extractor.rows(documents))
        seconds = time.perf_counter() - start
        return {**{key: chunk[key] for key in ("file", "chunk", "total_chunks", "total_documents", "error")},
                "rows": "".join(json_line(row) for _, row in results), "documents": len(results),
                "new_tokens": self.tokens.take(), "seconds": seconds, "kind": self.extractor.spec.kind,
                "types": list(self.extractor.types)}


@dataclass
class _FileState:
    path: str
    digest: str
    spool: Path
    chunks: set = field(default_factory=set)
    total_chunks: Optional[int] = None
    total_documents: int = 0
    new_tokens: int = 0
    seconds: float = 0.0
    over: bool = False


class Collector:
    """Chunk results as they come, in any order, to each file's outputs once all its chunks are in:
    rows spooled to disk meanwhile (a file's rows are in memory only while it is written)."""

    def __init__(self, job: Job, todo, outputs, out: Path, progress: Progress):
        self.job, self.outputs, self.out, self.progress = job, outputs, out, progress
        self.files = [_FileState(path, digest, Path(f"{outputs[path][job.formats[0]]}.ray-partial.jsonl"))
                      for path, digest in todo]
        self.kind = self.types = None
        for state in self.files:
            state.spool.unlink(missing_ok=True)  # a killed run's: its file is redone whole

    def add(self, result: dict) -> Iterator[Tuple[str, dict]]:
        state = self.files[result["file"]]
        if state.over or result["chunk"] in state.chunks:
            return  # a file already written or failed, or a retried task's chunk already taken
        if result["error"]:
            state.over = True
            state.spool.unlink(missing_ok=True)
            self.progress.file_failed()
            yield state.path, {"sha256": state.digest, "error": result["error"]}
            return
        if self.kind is None:
            self.kind, self.types = result["kind"], tuple(result["types"])
            for fmt in self.job.formats:
                check_output(fmt, self.kind)
        with open(state.spool, "a", encoding="utf-8") as handle:
            handle.write(result["rows"])
        state.chunks.add(result["chunk"])
        state.new_tokens += result["new_tokens"]
        state.seconds += result["seconds"]
        if result["total_chunks"] >= 0:
            state.total_chunks, state.total_documents = result["total_chunks"], result["total_documents"]
        self.progress.add(result["documents"], result["new_tokens"])
        if len(state.chunks) == state.total_chunks:
            state.over = True
            yield state.path, self._write(state)

    def missing(self) -> Iterator[Tuple[str, dict]]:
        """Files the job ended without (never expected: Ray retries what fails), as errors."""
        for state in self.files:
            if not state.over:
                self.progress.file_failed()
                yield state.path, {"sha256": state.digest, "error": f"{len(state.chunks)} of its chunks came back, "
                                                                     "not all: run the command again"}

    def _write(self, state: _FileState) -> dict:
        with open(state.spool, encoding="utf-8") as handle:
            rows = sorted((json.loads(line) for line in handle), key=lambda row: row["index"])
        try:
            if [row["index"] for row in rows] != list(range(state.total_documents)):
                raise UserError(f"{state.spool}: {len(rows)} rows for the {state.total_documents} documents of "
                                f"{state.path}")  # a chunk lost or doubled: never written as complete
            counts = write_outputs(state.path, self.job.input_format, iter(rows), self.outputs[state.path],
                                   self.kind, self.types, state.spool)
        except UserError as err:
            self.progress.file_failed()
            return {"sha256": state.digest, "error": str(err)}
        finally:
            state.spool.unlink(missing_ok=True)
        self.progress.file_done()
        return file_entry(state.digest, self.outputs[state.path], counts, self.out, new_tokens=state.new_tokens,
                          generation_seconds=round(state.seconds, 3))


def _run_on_ray(job: Job, todo, outputs, out: Path, address: str, workers: int, threads: Optional[int],
                gpus: float, progress: bool) -> Iterator[Tuple[str, dict]]:
    """The files on Ray Data: reading tasks, an actor pool of engines, this process writing."""
    ray = import_ray()
    started = connect(ray, address)
    try:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # ours counts documents and files
        # a block per chunk (every chunk outgrows this size): the unit the actors take, Ray retries,
        # and the progress counts, streamed as each is done rather than a file's at a time
        context.target_max_block_size = CHUNK_BLOCK_BYTES
        files = ray.data.from_items([{"file": i, "path": path} for i, (path, _) in enumerate(todo)],
                                    override_num_blocks=len(todo))
        chunks = files.flat_map(read_chunks, fn_kwargs={"input_format": job.input_format,
                                                        "batch_docs": job.batch_docs},
                                num_cpus=READ_CPUS, compute=ray.data.TaskPoolStrategy(size=min(READERS, len(todo))))
        results = chunks.map(ExtractionWorker, fn_constructor_kwargs={"job": job, "threads": threads},
                             compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=threads or 1,
                             num_gpus=gpus or None)
        collector = Collector(job, todo, outputs, out, Progress(len(todo), progress))
        for result in results.iter_rows():
            yield from collector.add(result)
        yield from collector.missing()
    finally:
        if started:
            ray.shutdown()
