"""Tokenize text the way BioGPT does: sacremoses, then fastBPE.

    python -m biogpt_fairseq.data.tokenize --bpe-codes CODES [--workers N] [FILE ...] [-o OUT]

Moses tokenization is English with aggressive dash splits and Moses' default
escaping (`&` becomes `&amp;`: the released dictionary holds these escapes);
BPE uses fastBPE with the given codes. The output equals, line for line,
what the original's `tokenizer.perl -l en -a` and `fast applybpe` write;
Hugging Face's `BioGptTokenizer` (sacremoses) differs where a line's last
word ends with a period that sacremoses keeps (`b.i.d.`, `vs.`), on runs of
CJK characters (one word to perl, a word per character to sacremoses) and on
lines of whitespace (written as they are by perl). Exactly one output line per
input line, empty lines included, in input order, whatever the number of
workers. Without --bpe-codes only the Moses step runs (to learn codes on its
output); with --pretokenized only the BPE step runs.
"""
import argparse
import collections
import functools
import itertools
import multiprocessing
import re
import sys
import unicodedata
from typing import Dict, Iterable, Iterator, List, Optional

from biogpt_fairseq.textio import UserError, atomic_output, read_lines, run_cli

CHUNK_LINES = 256
# fastBPE's binding has no cache of its own; PubMed's word distribution is
# Zipfian, so a bounded word cache skips most of its work.
WORD_CACHE_SIZE = 1_000_000


def check_bpe_codes(path: str) -> None:
    """Reject a codes file fastBPE would abort on (it asserts instead of reporting)."""
    n_codes = 0
    for lineno, line in read_lines(path):
        fields = line.split(" ")
        if len(fields) != 3 or not fields[2].isdigit():
            raise UserError(f"{path}:{lineno}: not a fastBPE codes line ('LEFT RIGHT COUNT'): {line[:80]!r}")
        n_codes += 1
    if n_codes == 0:
        raise UserError(f"{path}: empty BPE codes file")


# perl's `\s`, which a whitespace-only line is made of (Python's also holds \x1c-\x1f, which perl deletes)
PERL_SPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
PERL_BLANK_LINE = re.compile(f"[{PERL_SPACE}]*")
LETTERS = frozenset(("Lu", "Ll", "Lt", "Lm", "Lo", "Nl"))


def _ranges(points: List[int]) -> str:
    """A regex character class body for sorted code points, as ranges."""
    body, start = [], 0
    for i, point in enumerate(points):
        if i + 1 == len(points) or points[i + 1] != point + 1:
            first = points[start]
            body.append(re.escape(chr(first)) + (f"-{re.escape(chr(point))}" if point > first else ""))
            start = i + 1
    return "".join(body)


@functools.lru_cache(maxsize=None)
def perl_classes() -> Dict[str, List[int]]:
    """The code points of perl's \\p{IsAlpha}, \\p{IsAlnum}, \\p{IsN} and \\p{IsLower}, in order.

    sacremoses' copies list the Basic Multilingual Plane's characters without its largest scripts
    (CJK ideographs, Hangul syllables: 105,000 letters) nor any beyond it, and add Indic viramas and
    nuktas that perl does not count; so a run of Chinese became one word per character where perl
    keeps it one word. Here: letters (Unicode's L* and Nl) and the marks sacremoses lists as
    alphabetic, less its viramas and nuktas; numbers N*; lower case Ll and sacremoses' list.
    Against perl 5.36 (Unicode 14): IsN the same, IsAlpha and IsAlnum 608 combining marks of
    historic scripts short.
    """
    from sacremoses.tokenize import NUKTAS, VIRAMAS, MosesTokenizer

    categories = [unicodedata.category(chr(point)) for point in range(0x110000)]
    listed = set(map(ord, MosesTokenizer.IsAlpha)) - set(map(ord, VIRAMAS)) - set(map(ord, NUKTAS))
    lower = set(map(ord, MosesTokenizer.IsLower))
    alpha = [p for p, c in enumerate(categories) if c in LETTERS or p in listed]
    return {"IsAlpha": alpha, "IsAlnum": sorted(alpha + [p for p, c in enumerate(categories) if c == "Nd"]),
            "IsN": [p for p, c in enumerate(categories) if c[0] == "N"],
            "IsLower": [p for p, c in enumerate(categories) if c == "Ll" or p in lower]}


def english_moses():
    """sacremoses' English tokenizer as perl's tokenizer.perl runs: perl's whitespace, its rule for a
    line's last period, its character classes, and the two character-class tests made set lookups.

    perl splits the period off a line's last word unconditionally (Moses 9fc964da7, 2018, which
    the original's clone of Moses has); sacremoses 0.1.1 keeps it on an abbreviation or a word
    with a period and a letter: 9 of the 37,452 lines of the five fine-tuning sets ('100 mg
    b.i.d.', 'kv7.4.', 'a vs.'). sacremoses rebuilds a set of every Unicode lowercase (or
    alphabetic) character on each call of `islower` / `isanyalpha`, which run for every token
    that ends with a period: more than half of its time on PubMed text. The answers are the
    same (tested).

    perl's classes (`perl_classes`) hold characters beyond the Basic Multilingual Plane, which
    Python's regular expressions test one range at a time (4x slower on abstracts); so a line
    runs on them only where it holds a character they classify otherwise than sacremoses' lists.
    """
    from sacremoses import MosesTokenizer

    classes = perl_classes()
    differing = set()
    for name, points in classes.items():
        differing |= set(points) ^ set(map(ord, getattr(MosesTokenizer, name)))
    beyond_bmp = "\U00010000-\U0010ffff"
    needs_perl_classes = re.compile(f"[{_ranges(sorted(p for p in differing if p < 0x10000))}{beyond_bmp}]")

    def perl_rule(rule, *names):
        """One of sacremoses' rules with its character classes made perl's."""
        regex, substitution = rule
        pattern = regex.pattern
        for name in names:
            pattern = pattern.replace(getattr(MosesTokenizer, name), _ranges(classes[name]))
        return re.compile(pattern), substitution

    class EnglishMoses(MosesTokenizer):
        def __init__(self, lowercase=MosesTokenizer.IsLower, alphabetic=MosesTokenizer.IsAlpha):
            super().__init__(lang="en")
            self.lowercase = frozenset(lowercase)
            self.alphabetic = frozenset(alphabetic)
            self.DEDUPLICATE_SPACE = re.compile(f"[{PERL_SPACE}]+"), " "

        def islower(self, text):
            return self.lowercase.issuperset(text)

        def isanyalpha(self, text):
            return not self.alphabetic.isdisjoint(text)

        def handles_nonbreaking_prefixes(self, text):
            tokens = super().handles_nonbreaking_prefixes(text).split()
            if tokens and len(tokens[-1]) > 1 and tokens[-1].endswith("."):
                tokens[-1] = tokens[-1][:-1] + " ."
            return " ".join(tokens)

    class PerlClassesMoses(EnglishMoses):
        def __init__(self):
            super().__init__(map(chr, classes["IsLower"]), map(chr, classes["IsAlpha"]))
            self.PAD_NOT_ISALNUM = perl_rule(self.PAD_NOT_ISALNUM, "IsAlnum")
            self.AGGRESSIVE_HYPHEN_SPLIT = perl_rule(self.AGGRESSIVE_HYPHEN_SPLIT, "IsAlnum")
            self.COMMA_SEPARATE_1, self.COMMA_SEPARATE_2, self.COMMA_SEPARATE_3 = (
                perl_rule(rule, "IsN") for rule in (self.COMMA_SEPARATE_1, self.COMMA_SEPARATE_2,
                                                    self.COMMA_SEPARATE_3))
            self.ENGLISH_SPECIFIC_APOSTROPHE = [perl_rule(rule, "IsAlpha", "IsN")
                                                for rule in self.ENGLISH_SPECIFIC_APOSTROPHE]

    class DispatchingMoses(EnglishMoses):
        def __init__(self):
            super().__init__()
            self.perl = PerlClassesMoses()

        def tokenize(self, text, *args, **kwargs):
            if needs_perl_classes.search(text):
                return self.perl.tokenize(text, *args, **kwargs)
            return super().tokenize(text, *args, **kwargs)

    return DispatchingMoses()


class Tokenizer:
    """sacremoses + fastBPE with a word cache; one per process."""

    def __init__(self, bpe_codes: Optional[str] = None, moses: bool = True):
        if moses:
            self.moses = english_moses()
        else:
            self.moses = None
        if bpe_codes:
            import fastBPE

            self.bpe = fastBPE.fastBPE(bpe_codes)
        else:
            self.bpe = None
        self.word_cache: Dict[str, str] = {}

    def words(self, line: str) -> List[str]:
        if self.moses is None:
            return line.split()
        if PERL_BLANK_LINE.fullmatch(line):  # perl writes a line of whitespace as it is (fastBPE: split on spaces)
            return line.split(" ")
        return [
            w
            for w in self.moses.tokenize(line, aggressive_dash_splits=True, return_str=False, escape=True)
            if w  # BioGptTokenizer skips empty tokens too
        ]

    def encode(self, lines: List[str]) -> List[str]:
        sentences = [self.words(line) for line in lines]
        if self.bpe is None:
            return [" ".join(words) for words in sentences]
        new_words = list({w for words in sentences for w in words if w not in self.word_cache})
        if len(self.word_cache) + len(new_words) > WORD_CACHE_SIZE:
            self.word_cache.clear()  # bounded memory; refilled from the current chunk below
            new_words = list({w for words in sentences for w in words})
        self.word_cache.update(zip(new_words, self.bpe.apply(new_words)))
        return [" ".join(self.word_cache[w] for w in words) for words in sentences]


_worker_tokenizer: Optional[Tokenizer] = None


def _init_worker(bpe_codes, moses):
    global _worker_tokenizer
    _worker_tokenizer = Tokenizer(bpe_codes, moses)


def _encode_in_worker(lines):
    return _worker_tokenizer.encode(lines)


def _chunks(lines: Iterable[str], size: int = CHUNK_LINES) -> Iterator[List[str]]:
    iterator = iter(lines)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def tokenize_lines(lines: Iterable[str], bpe_codes=None, moses=True, workers=1) -> Iterator[str]:
    """Tokenized lines, in input order; at most 2 chunks per worker in flight (bounded memory)."""
    if bpe_codes:
        check_bpe_codes(bpe_codes)
    if workers <= 1:
        tokenizer = Tokenizer(bpe_codes, moses)
        for chunk in _chunks(lines):
            yield from tokenizer.encode(chunk)
        return
    with multiprocessing.Pool(workers, initializer=_init_worker, initargs=(bpe_codes, moses)) as pool:
        in_flight = collections.deque()
        for chunk in _chunks(lines):
            in_flight.append(pool.apply_async(_encode_in_worker, (chunk,)))
            if len(in_flight) >= 2 * workers:
                yield from in_flight.popleft().get()
        while in_flight:
            yield from in_flight.popleft().get()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="*", default=["-"], help="text files, one segment per line (default: stdin)")
    parser.add_argument("-o", "--output", help="output file (default: stdout); written atomically")
    parser.add_argument("--bpe-codes", help="fastBPE codes file (e.g. the released biogpt/bpecodes)")
    parser.add_argument("--pretokenized", action="store_true", help="input is already Moses-tokenized: apply BPE only")
    parser.add_argument("--workers", type=int, default=1, help="processes (output order is kept)")
    args = parser.parse_args(argv)
    if args.pretokenized and not args.bpe_codes:
        raise UserError("--pretokenized needs --bpe-codes")
    lines = (line for path in args.inputs for _, line in read_lines(path))
    tokenized = tokenize_lines(lines, args.bpe_codes, moses=not args.pretokenized, workers=args.workers)
    if args.output:
        with atomic_output(args.output) as out:
            out.writelines(f"{line}\n" for line in tokenized)
    else:
        sys.stdout.writelines(f"{line}\n" for line in tokenized)
    return 0


if __name__ == "__main__":
    run_cli(main)
