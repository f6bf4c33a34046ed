"""Line-oriented I/O shared by the command-line tools.

Every tool reads text the same way: lines split on "\\n" only (a carriage
return or U+2028 inside a line stays inside it), strict UTF-8, and an error
that names the file and line (readers of one record per line, as extraction's,
keep such a line as one unreadable record). Outputs are written under a temporary name and
renamed when complete, so an interrupted run never leaves a file that looks
finished.
"""
import contextlib
import functools
import gzip
import json
import os
import sys
import zlib
from typing import IO, Iterator, Optional, Tuple


LINE_LIMIT = 64 << 20  # bytes: no record of text is this long


class UserError(Exception):
    """A problem with the user's input or options: reported without a traceback."""


def open_binary(path: str) -> IO[bytes]:
    """Open a file for reading bytes, transparently un-gzipping `*.gz`."""
    if not os.path.exists(path):
        raise UserError(f"{path}: no such file")
    if os.path.isdir(path):
        raise UserError(f"{path}: is a directory, expected a file")
    return gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")


def read_lines(path: str, allow_nul: bool = False) -> Iterator[Tuple[int, str]]:
    """Yield (line number, text without the trailing newline) from `path` ("-" is stdin); a NUL byte is
    an error unless `allow_nul` (text that never reaches a C++ tool)."""
    for lineno, line, problem in read_marked_lines(path, allow_nul):
        if problem:
            raise UserError(f"{'<stdin>' if path == '-' else path}:{lineno}: {problem}")
        yield lineno, line


def read_marked_lines(path: str, allow_nul: bool = False,
                      skip_bom: bool = False) -> Iterator[Tuple[int, str, Optional[str]]]:
    """(line number, text, what is wrong with the line or None) of every line of `path`: a reader of
    one record per line keeps an undecodable line as one unreadable record (its text decoded with
    U+FFFD for the bytes that are not UTF-8) instead of stopping there; so is a line longer than
    LINE_LIMIT (a gzip bomb of one line), read past in bounded memory (its text: its first 1 KiB).
    A file that cannot be read to its end (a gzip member that ends early or fails its check), or
    UTF-16 text, is an error naming it. `skip_bom`: a UTF-8 byte-order mark (Windows editors write
    one) is not part of the first line (Moses' perl, whose output the tokenizer matches, keeps it)."""
    stream = sys.stdin.buffer if path == "-" else open_binary(path)
    name = "<stdin>" if path == "-" else path
    lineno = 0
    with contextlib.ExitStack() as stack:
        if path != "-":
            stack.enter_context(stream)
        try:
            if stream.peek(2)[:2] in (b"\xff\xfe", b"\xfe\xff"):
                raise UserError(f"{name}:1: UTF-16 text (it starts with a byte-order mark): save it as UTF-8")
            if skip_bom and stream.peek(3)[:3] == b"\xef\xbb\xbf":
                stream.read(3)
            for lineno, raw in enumerate(iter(functools.partial(stream.readline, LINE_LIMIT), b""), 1):
                if raw.endswith(b"\n"):
                    raw = raw[:-1]
                elif len(raw) == LINE_LIMIT:  # (the file's last line has no newline either)
                    while (rest := stream.readline(LINE_LIMIT)) and not rest.endswith(b"\n"):
                        pass
                    line = raw[:1024].decode("utf-8", errors="replace")
                    yield lineno, line, f"a line longer than {LINE_LIMIT >> 20} MiB"
                    continue
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as err:
                    line = raw.decode("utf-8", errors="replace")
                    yield lineno, line, f"invalid UTF-8 at byte {err.start} of the line"
                    continue
                if "\0" in line and not allow_nul:  # C++ tools downstream (fastBPE) would silently cut the line here
                    yield lineno, line, "NUL byte in text"
                    continue
                yield lineno, line, None
        except (EOFError, OSError, zlib.error) as err:  # gzip's: truncated, a failed CRC, corrupt data
            raise UserError(f"{name}:{lineno + 1}: cannot read: {err}") from None


def read_json(path) -> object:
    """The value of a small JSON file (a manifest, a definition, prompt.json), or an error naming the
    file: not there, not UTF-8, not JSON, or nested deeper than the parser recurses."""
    with open_binary(str(path)) as stream:
        data = stream.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise UserError(f"{path}: invalid UTF-8 at byte {err.start}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise UserError(f"{path}:{err.lineno}:{err.colno}: invalid JSON: {err.msg}") from None
    except RecursionError:
        raise UserError(f"{path}: invalid JSON: nested deeper than the parser allows") from None


def json_line(record: dict) -> str:
    """One JSON line, readable text kept, with U+2028/U+2029 escaped: tools that split lines on
    them (Python's str.splitlines, JavaScript) would otherwise cut the record in two."""
    return json.dumps(record, ensure_ascii=False).replace("\u2028", "\\u2028").replace("\u2029", "\\u2029") + "\n"


@contextlib.contextmanager
def atomic_output(path: str, mode: str = "w"):
    """Write `path` via `path.tmp`; rename only if the block completes."""
    directory = os.path.dirname(os.path.abspath(path))
    tmp = f"{path}.tmp.{os.getpid()}"
    kwargs = {"encoding": "utf-8", "newline": "\n"} if "b" not in mode else {}
    try:
        os.makedirs(directory, exist_ok=True)
        handle = open(tmp, mode, **kwargs)
    except OSError as err:  # a folder that cannot be made, a file in the way, no permission
        raise UserError(f"{path}: cannot write: {err.strerror}") from None
    try:
        with handle:
            yield handle
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def run_cli(main) -> None:
    """Run `main()`, turning UserError into a one-line message and exit status 2."""
    try:
        status = main()
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except BrokenPipeError:  # e.g. `... | head`: not an error of ours
        sys.exit(1)
    sys.exit(status or 0)
