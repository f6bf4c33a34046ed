"""Line-oriented I/O shared by the command-line tools.

Every tool reads text the same way: lines split on "\\n" only (a carriage
return or U+2028 inside a line stays inside it), strict UTF-8, and an error
that names the file and line. Outputs are written under a temporary name and
renamed when complete, so an interrupted run never leaves a file that looks
finished.
"""
import contextlib
import gzip
import json
import os
import sys
from typing import IO, Iterator, Tuple


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
    stream = sys.stdin.buffer if path == "-" else open_binary(path)
    name = "<stdin>" if path == "-" else path
    with contextlib.ExitStack() as stack:
        if path != "-":
            stack.enter_context(stream)
        for lineno, raw in enumerate(stream, 1):
            if raw.endswith(b"\n"):
                raw = raw[:-1]
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise UserError(
                    f"{name}:{lineno}: invalid UTF-8 at byte {err.start} of the line"
                ) from None
            if "\0" in line and not allow_nul:  # C++ tools downstream (fastBPE) would silently cut the line here
                raise UserError(f"{name}:{lineno}: NUL byte in text")
            yield lineno, line


def json_line(record: dict) -> str:
    """One JSON line, readable text kept, with U+2028/U+2029 escaped: tools that split lines on
    them (Python's str.splitlines, JavaScript) would otherwise cut the record in two."""
    return json.dumps(record, ensure_ascii=False).replace("\u2028", "\\u2028").replace("\u2029", "\\u2029") + "\n"


@contextlib.contextmanager
def atomic_output(path: str, mode: str = "w"):
    """Write `path` via `path.tmp`; rename only if the block completes."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = f"{path}.tmp.{os.getpid()}"
    kwargs = {"encoding": "utf-8", "newline": "\n"} if "b" not in mode else {}
    try:
        with open(tmp, mode, **kwargs) as handle:
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
