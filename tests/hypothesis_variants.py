"""Generated-output variants of the downstream test sets, for the parity tests against the original.

Self-contained: no dependency on BioGPT code.  Given a dataset name and the test
sources (x lines) and targets (y lines), :func:`all_variants` returns an ordered
dict ``{variant_name: [hypothesis line, ...]}`` with exactly one line per test
example.  A hypothesis line imitates what the decoding step writes after BPE
removal and detokenisation::

    <x line> learned1 learned2 ... learned9 <generated answer>      (HoC: only learned1)

Everything is deterministic: every variant uses its own ``random.Random`` seeded
from sha256("<dataset>/<variant>"); there is no module-level mutable state and
no iteration over sets.

Only ``moses_roundtrip`` needs sacremoses, fastBPE and the BPE codes. The
original release's postprocess and scorers were run on these very lines to
record tests/data/original_decoding.json.
"""
import hashlib
import random
from collections import OrderedDict

DATASETS = ("bc5cdr", "ddi", "kd-dti", "hoc", "pubmedqa")
RELATION_DATASETS = ("bc5cdr", "ddi", "kd-dti")

LEARNED9 = tuple("learned%d" % i for i in range(1, 10))
HARD_PROMPTS = ("in conclusion ,", "in conclusion,", "we can conclude that", "we have that")

BC5CDR_HEAD = "the relation between "
BC5CDR_TAIL = " exists"
DTI_HEAD = "the interaction between "
HOC_HEAD = "the type of this document is "
QA_HEAD = "the answer to the question given the context is "

HOC_LABELS = (
    "tumor promoting inflammation", "inducing angiogenesis", "evading growth suppressors",
    "resisting cell death", "cellular energetics", "empty", "genomic instability and mutation",
    "sustaining proliferative signaling", "avoiding immune destruction",
    "activating invasion and metastasis", "enabling replicative immortality",
)
HOC_UNKNOWN = ("cancer", "angiogenesis", "genomic instability", "metastasis", "none", "other",
               "sustaining proliferative signalling", "apoptosis")
QA_LABELS = ("yes", "no", "maybe")

INVENTED_NAMES = (
    "xylofenadine", "protozumab", "neurokinase-7", "compound x-123", "hepatotoxic syndrome",
    "glucoridone", "zetamycin", "acute florid dysplasia", "bromoquinate", "serum factor q",
    "tetrazoline b", "kinase zeta-like protein", "renal fibrillosis", "ortho-methylcarbamate",
)
GARBAGE_WORDS = (
    "the", "of", "patients", "and", "was", "in", "study", "results", "a", "treatment",
    "with", "to", "cells", "were", "effect", "dose", "group", "significant", "levels", "for",
)


# --------------------------------------------------------------------------- utils
def _rng(dataset, variant):
    seed = int(hashlib.sha256(("%s/%s" % (dataset, variant)).encode("utf8")).hexdigest()[:16], 16)
    return random.Random(seed)


def _uniq(seq):
    """Order-preserving de-duplication (no set iteration)."""
    return list(OrderedDict.fromkeys(seq))


def prompt_for(dataset):
    return "learned1" if dataset == "hoc" else " ".join(LEARNED9)


def join_line(x, prompt, answer):
    """x + ' ' + prompt + ' ' + answer, dropping empty parts."""
    return " ".join(p for p in (x, prompt, answer) if p != "")


def _strip_period(s):
    return s[:-1] if s.endswith(".") else s


def _upper_first(s):
    return s[:1].upper() + s[1:]


def _pick_other(rng, options, current):
    others = [o for o in options if o != current]
    return rng.choice(others) if others else current


# --------------------------------------------------------------------------- parsing
def _split_and(middle, source):
    """Split 'A and B' (either may contain ' and ') with plain string ops.

    Prefer the split where both halves occur in the (lower-cased) source, else where the
    head occurs, else the first ' and '."""
    cands = []
    start = 0
    while True:
        k = middle.find(" and ", start)
        if k < 0:
            break
        cands.append((middle[:k], middle[k + 5:]))
        start = k + 1
    if not cands:
        return middle, ""
    if len(cands) == 1:
        return cands[0]
    src = source.lower()
    for h, t in cands:
        if h.lower() in src and t.lower() in src:
            return h, t
    for h, t in cands:
        if h.lower() in src:
            return h, t
    return cands[0]


def parse_target(dataset, target, source=""):
    """Parse one target line.

    relation datasets -> list of [head, tail, label] (label None for bc5cdr)
    hoc -> list of labels; pubmedqa -> answer string."""
    body = _strip_period(target.strip())
    if dataset == "bc5cdr":
        triples = []
        for sen in body.split("; "):
            mid = sen
            if mid.startswith(BC5CDR_HEAD):
                mid = mid[len(BC5CDR_HEAD):]
            if mid.endswith(BC5CDR_TAIL):
                mid = mid[:-len(BC5CDR_TAIL)]
            h, t = _split_and(mid, source)
            triples.append([h, t, None])
        return triples
    if dataset in ("ddi", "kd-dti"):
        triples = []
        for sen in body.split("; "):
            mid = sen[len(DTI_HEAD):] if sen.startswith(DTI_HEAD) else sen
            k = mid.rfind(" is ")
            label = mid[k + 4:] if k >= 0 else ""
            mid = mid[:k] if k >= 0 else mid
            h, t = _split_and(mid, source)
            triples.append([h, t, label])
        return triples
    if dataset == "hoc":
        return body[len(HOC_HEAD):].split("|") if body.startswith(HOC_HEAD) else [body]
    if dataset == "pubmedqa":
        return body[len(QA_HEAD):] if body.startswith(QA_HEAD) else body
    raise ValueError("unknown dataset %r" % dataset)


def sentence(dataset, triple):
    h, t, label = triple
    if dataset == "bc5cdr":
        return "%s%s and %s%s" % (BC5CDR_HEAD, h, t, BC5CDR_TAIL)
    return "%s%s and %s is %s" % (DTI_HEAD, h, t, label)


def render(dataset, parsed, period="."):
    if dataset in RELATION_DATASETS:
        return "; ".join(sentence(dataset, tr) for tr in parsed) + period
    if dataset == "hoc":
        return HOC_HEAD + "|".join(parsed) + period
    if dataset == "pubmedqa":
        return QA_HEAD + parsed + period
    raise ValueError(dataset)


class _Ctx(object):
    """Parsed targets and pools shared by the variant builders of one dataset."""

    def __init__(self, dataset, sources, targets):
        if len(sources) != len(targets):
            raise ValueError("sources and targets differ in length: %d vs %d" % (len(sources), len(targets)))
        self.dataset = dataset
        self.sources = list(sources)
        self.targets = list(targets)
        self.n = len(self.targets)
        self.prompt = prompt_for(dataset)
        self.parsed = [parse_target(dataset, y, x) for x, y in zip(self.sources, self.targets)]
        self.rel = dataset in RELATION_DATASETS
        if self.rel:
            self.heads = _uniq(tr[0] for p in self.parsed for tr in p)
            self.tails = _uniq(tr[1] for p in self.parsed for tr in p)
            counts = OrderedDict()
            for p in self.parsed:
                for tr in p:
                    counts[tr[2]] = counts.get(tr[2], 0) + 1
            # most frequent first, ties by first appearance (sorted is stable)
            self.labels = [l for l, _ in sorted(counts.items(), key=lambda kv: -kv[1])]

    def copy_parsed(self, i):
        p = self.parsed[i]
        if self.rel:
            return [list(tr) for tr in p]
        if isinstance(p, list):
            return list(p)
        return p

    def line(self, i, answer, prompt=None):
        return join_line(self.sources[i], self.prompt if prompt is None else prompt, answer)

    def other_name(self, rng, i, role):
        """A head ('h') / tail ('t') name from another document (not in doc i)."""
        pool = self.heads if role == "h" else self.tails
        own = [tr[0] if role == "h" else tr[1] for tr in self.parsed[i]]
        for _ in range(20):
            cand = rng.choice(pool)
            if cand not in own:
                return cand
        return rng.choice(INVENTED_NAMES)


def _safe(ctx, lines):
    """The original BC5CDR postprocess indexes e[-1] of the stripped line: never emit a
    blank line for bc5cdr (use '.' instead)."""
    if ctx.dataset != "bc5cdr":
        return lines
    return [l if l.strip() != "" else "." for l in lines]


# --------------------------------------------------------------------------- common variants
def v_perfect(ctx, rng):
    return [ctx.line(i, ctx.targets[i]) for i in range(ctx.n)]


def v_continuation(ctx, rng):
    return list(ctx.targets)


def _upper_values(ctx, i):
    p = ctx.copy_parsed(i)
    if ctx.rel:
        for tr in p:
            tr[0], tr[1] = tr[0].upper(), tr[1].upper()
            if tr[2] is not None:
                tr[2] = tr[2].upper()
        return render(ctx.dataset, p)
    if ctx.dataset == "hoc":
        return render(ctx.dataset, [l.upper() for l in p])
    return render(ctx.dataset, p.upper())


def v_upper(ctx, rng):
    """70%: only the answer values (names / labels / yes-no) upper-cased; 30%: the whole
    answer sentence upper-cased."""
    out = []
    for i in range(ctx.n):
        if rng.random() < 0.3:
            out.append(ctx.line(i, ctx.targets[i].upper()))
        else:
            out.append(ctx.line(i, _upper_values(ctx, i)))
    return out


def _capitalize_answer(ans):
    return "; ".join(_upper_first(s) for s in ans.split("; "))


def v_capitalized(ctx, rng):
    """First letter of the answer and of every '; '-separated sentence upper-cased."""
    return [ctx.line(i, _capitalize_answer(ctx.targets[i])) for i in range(ctx.n)]


def _spacing_ops(ctx):
    ops = ["double_space", "space_before_period", "trailing_spaces", "prompt_glued",
           "double_space_prompt", "leading_space_answer"]
    if ctx.rel:
        ops += ["no_space_after_semicolon", "space_before_semicolon"]
    if ctx.dataset == "hoc":
        ops += ["space_around_bar"]
    return ops


def _apply_spacing(ctx, rng, i, ops):
    x, prompt, ans = ctx.sources[i], ctx.prompt, ctx.targets[i]
    sep_xp, sep_pa, tail = " ", " ", ""
    for op in ops:
        if op == "double_space":
            spaces = [k for k, c in enumerate(ans) if c == " "]
            for k in sorted(rng.sample(spaces, min(len(spaces), rng.randint(1, 3))), reverse=True):
                ans = ans[:k] + "  " + ans[k + 1:]
        elif op == "space_before_period":
            if ans.endswith("."):
                ans = ans[:-1].rstrip(" ") + " ."
        elif op == "trailing_spaces":
            tail = rng.choice(("  ", " ", "   ", " \t"))
        elif op == "prompt_glued":  # missing space between the prompt and the answer
            sep_pa = ""
        elif op == "double_space_prompt":
            sep_xp = "  "
            prompt = prompt.replace(" ", "  ", 1) if " " in prompt else prompt
        elif op == "leading_space_answer":
            sep_pa = "  "
        elif op == "no_space_after_semicolon":
            if "; " in ans:
                if rng.random() < 0.5:
                    ans = ans.replace("; ", ";")
                else:
                    k = rng.choice([j for j in range(len(ans)) if ans.startswith("; ", j)])
                    ans = ans[:k] + ";" + ans[k + 2:]
            else:
                ans = ans.replace(" and ", "  and ", 1)
        elif op == "space_before_semicolon":
            ans = ans.replace("; ", " ; ") if "; " in ans else ans.replace(" is ", " is  ", 1)
        elif op == "space_around_bar":
            ans = ans.replace("|", " | ") if "|" in ans else ans.replace(" is ", " is  ", 1)
    return x + sep_xp + prompt + sep_pa + ans + tail


def v_spacing(ctx, rng):
    ops_all = _spacing_ops(ctx)
    out = []
    for i in range(ctx.n):
        ops = rng.sample(ops_all, rng.randint(1, 3))
        # keep a stable order of application
        ops = [o for o in ops_all if o in ops]
        out.append(_apply_spacing(ctx, rng, i, ops))
    return out


def v_no_period(ctx, rng):
    return [ctx.line(i, _strip_period(ctx.targets[i])) for i in range(ctx.n)]


def v_double_period(ctx, rng):
    return [ctx.line(i, ctx.targets[i] + ".") for i in range(ctx.n)]


def v_truncated(ctx, rng):
    """30% of lines: answer cut at a random character position (0 <= pos < len)."""
    out = []
    for i in range(ctx.n):
        ans = ctx.targets[i]
        if rng.random() < 0.3:
            ans = ans[:rng.randrange(0, len(ans))].rstrip(" ")
        out.append(ctx.line(i, ans))
    return out


def _inside_positions(ans):
    """Word boundaries inside the answer (indices of spaces)."""
    return [k for k, c in enumerate(ans) if c == " "]


def v_prompt_residue(ctx, rng):
    modes = ["no_learned", "partial_learned", "repeated_learned", "learned_inside_answer",
             "hard_after_learned", "hard_instead_of_learned", "hard_inside_answer",
             "learned_shuffled", "learned_and_hard_inside"]
    out = []
    for i in range(ctx.n):
        mode = rng.choice(modes)
        x, ans = ctx.sources[i], ctx.targets[i]
        hard = rng.choice(HARD_PROMPTS)
        if mode == "no_learned":
            out.append(join_line(x, "", ans))
        elif mode == "partial_learned":
            if ctx.dataset == "hoc":
                p = rng.choice(("learned", "learned2", "learned1 learned2"))
            else:
                k = rng.randint(1, 8)
                p = " ".join(LEARNED9[:k]) if rng.random() < 0.5 else " ".join(LEARNED9[9 - k:])
            out.append(join_line(x, p, ans))
        elif mode == "repeated_learned":
            p = ctx.prompt + " " + ctx.prompt if rng.random() < 0.5 else ctx.prompt + " learned9 learned9"
            out.append(join_line(x, p, ans))
        elif mode == "learned_inside_answer":
            pos = rng.choice(_inside_positions(ans))
            tok = rng.choice(LEARNED9) if rng.random() < 0.7 else " ".join(LEARNED9[:3])
            out.append(ctx.line(i, ans[:pos] + " " + tok + ans[pos:]))
        elif mode == "hard_after_learned":
            out.append(ctx.line(i, hard + " " + ans))
        elif mode == "hard_instead_of_learned":
            out.append(join_line(x, hard, ans))
        elif mode == "hard_inside_answer":
            if "; " in ans and rng.random() < 0.7:
                ks = [j for j in range(len(ans)) if ans.startswith("; ", j)]
                k = rng.choice(ks) + 2
            else:
                k = rng.choice(_inside_positions(ans)) + 1
            new = ans[:k] + hard + " " + ans[k:]
            # with or without the learned prompt
            out.append(ctx.line(i, new) if rng.random() < 0.5 else join_line(x, "", new))
        elif mode == "learned_shuffled":
            toks = list(LEARNED9) if ctx.dataset != "hoc" else ["learned1", "learned3"]
            rng.shuffle(toks)
            out.append(join_line(x, " ".join(toks), ans))
        else:  # learned_and_hard_inside: no prompt before, learned tokens + hard prompt inside
            pos = rng.choice(_inside_positions(ans))
            out.append(join_line(x, "", ans[:pos] + " " + hard + " learned1 learned2" + ans[pos:]))
    return out


def _garbage_line(ctx, rng, i, kind):
    d = ctx.dataset
    if kind == "other_source":
        j = rng.randrange(ctx.n)
        return ctx.sources[j if j != i else (j + 1) % ctx.n]
    if kind == "random_words":
        return " ".join(rng.choice(GARBAGE_WORDS) for _ in range(rng.randint(3, 30)))
    if kind == "repeated_token":
        return " ".join([rng.choice(("the", "learned1", ";", ".", "and"))] * rng.randint(2, 50))
    if kind == "other_task_template":
        if d == "pubmedqa":
            return "the relation between aspirin and headache exists."
        if d == "hoc":
            return "the answer to the question given the context is yes."
        if d == "bc5cdr":
            return "the interaction between aspirin and warfarin is effect."
        return "the type of this document is empty."
    if kind == "empty_slots":
        if d == "bc5cdr":
            return "the relation between  and  exists."
        if d in ("ddi", "kd-dti"):
            return "the interaction between  and  is ."
        if d == "hoc":
            return "the type of this document is."
        return "the answer to the question given the context is."
    if kind == "prompt_only":
        return ctx.sources[i] + " " + ctx.prompt
    if kind == "symbols":
        return rng.choice(("... ;;; |||", "\u2205 \u2014 \u00fc \u00e9 \u03b1-\u03b2", "0 1 2 3 4 5",
                           "<unk> <unk> </s>", "@@ @@ &amp; &#124;", "( ) [ ] { }"))
    raise ValueError(kind)


def v_garbage(ctx, rng):
    """20% of lines replaced by unrelated text; the first replaced line is empty
    ('.' for bc5cdr, whose original postprocess crashes on an empty line)."""
    out = [ctx.line(i, ctx.targets[i]) for i in range(ctx.n)]
    k = max(1, int(round(0.2 * ctx.n)))
    idx = sorted(rng.sample(range(ctx.n), k))
    kinds = ["other_source", "random_words", "repeated_token", "other_task_template",
             "empty_slots", "prompt_only", "symbols"]
    for n_, i in enumerate(idx):
        if n_ == 0:
            out[i] = "." if ctx.dataset == "bc5cdr" else ""
        else:
            out[i] = _garbage_line(ctx, rng, i, rng.choice(kinds))
    return _safe(ctx, out)


class MosesBPERoundTrip(object):
    """sacremoses tokenize -> fastBPE -> remove '@@ ' -> sacremoses detokenize."""

    def __init__(self, bpe_codes):
        import fastBPE  # noqa: local import: only this variant needs it
        from sacremoses import MosesDetokenizer, MosesTokenizer
        codes = str(bpe_codes)
        self.tok = MosesTokenizer(lang="en")
        self.detok = MosesDetokenizer(lang="en")
        self.bpe = fastBPE.fastBPE(codes)

    def __call__(self, lines):
        toks = [self.tok.tokenize(l, aggressive_dash_splits=True, return_str=True, escape=True) for l in lines]
        bped = self.bpe.apply(toks)
        return [self.detok.detokenize(b.replace("@@ ", "").split()) for b in bped]


def v_moses_roundtrip(ctx, rng, roundtrip):
    rt = roundtrip
    return _safe(ctx, rt(v_perfect(ctx, rng)))


# --------------------------------------------------------------------------- relation variants
def v_dropped(ctx, rng):
    """10% of lines: whole answer removed; otherwise 40% of multi-triple lines: one triple removed."""
    out = []
    for i in range(ctx.n):
        p = ctx.copy_parsed(i)
        r = rng.random()
        if r < 0.10:
            out.append(ctx.line(i, rng.choice(("", "."))))
            continue
        if len(p) > 1 and rng.random() < 0.4:
            del p[rng.randrange(len(p))]
        out.append(ctx.line(i, render(ctx.dataset, p)))
    return out


def v_spurious(ctx, rng):
    """40% of lines: one extra triple (names from other documents, or invented) at a random position."""
    out = []
    for i in range(ctx.n):
        p = ctx.copy_parsed(i)
        if rng.random() < 0.4:
            mode = rng.choice(("other_docs", "invented", "mixed"))
            if mode == "other_docs":
                h, t = ctx.other_name(rng, i, "h"), ctx.other_name(rng, i, "t")
            elif mode == "invented":
                h, t = rng.choice(INVENTED_NAMES), rng.choice(INVENTED_NAMES)
            else:  # a name of this document paired with one from another document
                tr = rng.choice(p)
                if rng.random() < 0.5:
                    h, t = tr[0], ctx.other_name(rng, i, "t")
                else:
                    h, t = ctx.other_name(rng, i, "h"), tr[1]
            label = None if ctx.dataset == "bc5cdr" else rng.choice(ctx.labels)
            p.insert(rng.randint(0, len(p)), [h, t, label])
        out.append(ctx.line(i, render(ctx.dataset, p)))
    return out


def v_swapped_roles(ctx, rng):
    out = []
    for i in range(ctx.n):
        p = ctx.copy_parsed(i)
        for tr in p:
            if rng.random() < 0.3:
                tr[0], tr[1] = tr[1], tr[0]
        out.append(ctx.line(i, render(ctx.dataset, p)))
    return out


def v_and_in_names(ctx, rng):
    """Names joined with ' and ' into one name ('A and B'); 60% of lines get one such merge.

    merge_heads: two triples with the same tail (and label) -> one triple 'h1 and h2';
    merge_tails: same head -> 't1 and t2'; join_other: a name joined with one of another document."""
    out = []
    for i in range(ctx.n):
        p = ctx.copy_parsed(i)
        if rng.random() < 0.6:
            by_tail, by_head = OrderedDict(), OrderedDict()
            for k, tr in enumerate(p):
                by_tail.setdefault((tr[1], tr[2]), []).append(k)
                by_head.setdefault((tr[0], tr[2]), []).append(k)
            ops = ["join_other"]
            if any(len(v) > 1 for v in by_tail.values()):
                ops.append("merge_heads")
            if any(len(v) > 1 for v in by_head.values()):
                ops.append("merge_tails")
            op = rng.choice(ops)
            if op == "join_other":
                k = rng.randrange(len(p))
                if rng.random() < 0.5:
                    p[k][0] = p[k][0] + " and " + ctx.other_name(rng, i, "h")
                else:
                    p[k][1] = ctx.other_name(rng, i, "t") + " and " + p[k][1]
            else:
                groups = [v for v in (by_tail if op == "merge_heads" else by_head).values() if len(v) > 1]
                a, b = rng.sample(rng.choice(groups), 2)
                a, b = min(a, b), max(a, b)
                role = 0 if op == "merge_heads" else 1
                p[a][role] = p[a][role] + " and " + p[b][role]
                del p[b]
        out.append(ctx.line(i, render(ctx.dataset, p)))
    return out


def v_duplicated(ctx, rng):
    """50% of lines: one triple repeated (1/5 of those: repeated twice)."""
    out = []
    for i in range(ctx.n):
        p = ctx.copy_parsed(i)
        if rng.random() < 0.5:
            tr = rng.choice(p)
            for _ in range(2 if rng.random() < 0.2 else 1):
                p.insert(rng.randint(0, len(p)), list(tr))
        out.append(ctx.line(i, render(ctx.dataset, p)))
    return out


def v_swapped_labels_rel(ctx, rng):
    out = []
    for i in range(ctx.n):
        p = ctx.copy_parsed(i)
        for tr in p:
            if rng.random() < 0.3:
                tr[2] = _pick_other(rng, ctx.labels, tr[2])
        out.append(ctx.line(i, render(ctx.dataset, p)))
    return out


_ROMAN = (("1", "i"), ("2", "ii"), ("3", "iii"), ("4", "iv"), ("5", "v"), ("6", "vi"),
          ("7", "vii"), ("8", "viii"), ("9", "ix"))


def _abbr_of(name):
    words = [w for w in name.replace("-", " ").split() if w]
    if len(words) > 1:
        return "".join(w[0] for w in words)
    return name[:3]


def _bracket_op(rng, name):
    """One applicable abbreviation / roman / '-type' change of a name (or the name itself)."""
    ops = []
    if name.endswith(")") and " (" in name:
        ops += ["drop_bracket", "only_abbr", "bracket_glued"]
    else:
        ops += ["add_bracket"]
    base = name[:name.rfind(" (")] if (name.endswith(")") and " (" in name) else name
    last = base.rsplit(" ", 1)
    if len(last) == 2 and last[1] in [d for d, _ in _ROMAN]:
        ops.append("digit_to_roman")
    if len(last) == 2 and last[1] in [r for _, r in _ROMAN]:
        ops.append("roman_to_digit")
    if "-type" in name:
        ops += ["drop_type", "type_space"]
    else:
        ops.append("add_type")
    op = rng.choice(ops)
    if op == "drop_bracket":
        return base
    if op == "only_abbr":
        return name[name.rfind(" (") + 2:-1]
    if op == "bracket_glued":
        return base + "(" + name[name.rfind(" (") + 2:]
    if op == "add_bracket":
        return name + " (" + _abbr_of(name) + ")"
    if op in ("digit_to_roman", "roman_to_digit"):
        table = dict(_ROMAN) if op == "digit_to_roman" else dict((r, d) for d, r in _ROMAN)
        new_last = table[last[1]]
        if op == "digit_to_roman" and rng.random() < 0.5:
            new_last = new_last.upper()  # 'type II'
        return last[0] + " " + new_last + name[len(base):]
    if op == "drop_type":
        return name.replace("-type", "", 1)
    if op == "type_space":
        return name.replace("-type", " type", 1)
    if op == "add_type":
        words = base.split(" ")
        words[0] = words[0] + "-type"
        return " ".join(words) + name[len(base):]
    return name


def v_bracket_abbreviations(ctx, rng):
    """Each name with probability 0.4: bracketed abbreviation removed / kept alone / glued / added,
    'type 2' <-> 'type ii' / 'type II', '-type' removed / spaced / added."""
    out = []
    for i in range(ctx.n):
        p = ctx.copy_parsed(i)
        for tr in p:
            for role in (0, 1):
                if rng.random() < 0.4:
                    tr[role] = _bracket_op(rng, tr[role])
        out.append(ctx.line(i, render(ctx.dataset, p)))
    return out


# --------------------------------------------------------------------------- hoc / pubmedqa labels
def v_swapped_labels_hoc(ctx, rng):
    """60% of lines: one of replace / add / remove / reorder / ' | ' / unknown label."""
    out = []
    for i in range(ctx.n):
        labels = ctx.copy_parsed(i)
        sep = "|"
        if rng.random() < 0.6:
            op = rng.choice(("replace", "add", "remove", "reorder", "spaced_bar", "unknown"))
            if op == "replace":
                k = rng.randrange(len(labels))
                labels[k] = _pick_other(rng, HOC_LABELS, labels[k])
            elif op == "add":
                labels.insert(rng.randint(0, len(labels)), _pick_other(rng, HOC_LABELS, labels[0]))
            elif op == "remove":
                if len(labels) > 1:
                    del labels[rng.randrange(len(labels))]
                else:
                    labels = [""]
            elif op == "reorder":
                if len(labels) == 1:
                    labels.append(_pick_other(rng, HOC_LABELS, labels[0]))
                labels = labels[::-1]
            elif op == "spaced_bar":
                if len(labels) == 1:
                    labels.append(_pick_other(rng, HOC_LABELS, labels[0]))
                sep = rng.choice((" | ", "| ", " |"))
            else:
                unk = rng.choice(HOC_UNKNOWN)
                if rng.random() < 0.5:
                    labels = [unk]
                else:
                    labels.insert(rng.randint(0, len(labels)), unk)
        out.append(ctx.line(i, HOC_HEAD + sep.join(labels) + "."))
    return out


def v_swapped_labels_qa(ctx, rng):
    """40% of lines: answer replaced by another of yes/no/maybe, a capitalised form,
    'yes, because ...' or 'unknown'."""
    out = []
    for i in range(ctx.n):
        ans = ctx.parsed[i]
        if rng.random() < 0.4:
            op = rng.choice(("other", "other", "capitalized", "because", "unknown"))
            if op == "other":
                ans = _pick_other(rng, QA_LABELS, ans)
            elif op == "capitalized":
                ans = rng.choice(("Yes", "No", "Maybe", ans.capitalize()))
            elif op == "because":
                ans = rng.choice(("yes", ans)) + ", because the results support it"
            else:
                ans = "unknown"
        out.append(ctx.line(i, QA_HEAD + ans + "."))
    return out


# --------------------------------------------------------------------------- assembly
def variant_names(dataset):
    names = ["perfect", "continuation", "upper", "capitalized", "spacing", "no_period",
             "double_period", "truncated", "prompt_residue", "garbage", "moses_roundtrip"]
    if dataset in RELATION_DATASETS:
        names += ["dropped", "spurious", "swapped_roles", "and_in_names", "duplicated"]
    if dataset in ("ddi", "kd-dti"):
        names += ["swapped_labels", "bracket_abbreviations"]
    if dataset in ("hoc", "pubmedqa"):
        names += ["swapped_labels"]
    names.append("mixed")
    return names


_BUILDERS = {
    "perfect": v_perfect, "continuation": v_continuation, "upper": v_upper,
    "capitalized": v_capitalized, "spacing": v_spacing, "no_period": v_no_period,
    "double_period": v_double_period, "truncated": v_truncated,
    "prompt_residue": v_prompt_residue, "garbage": v_garbage,
    "dropped": v_dropped, "spurious": v_spurious, "swapped_roles": v_swapped_roles,
    "and_in_names": v_and_in_names, "duplicated": v_duplicated,
    "bracket_abbreviations": v_bracket_abbreviations,
}


def all_variants(dataset, sources, targets, bpe_codes):
    """Ordered dict {variant_name: [one hypothesis line per example]}."""
    if dataset not in DATASETS:
        raise ValueError("unknown dataset %r (expected one of %s)" % (dataset, ", ".join(DATASETS)))
    ctx = _Ctx(dataset, sources, targets)
    res = OrderedDict()
    for name in variant_names(dataset):
        rng = _rng(dataset, name)
        if name == "mixed":
            pool = [v for v in res if v != "perfect"]
            res[name] = [res[rng.choice(pool)][i] for i in range(ctx.n)]
        elif name == "moses_roundtrip":
            res[name] = v_moses_roundtrip(ctx, rng, MosesBPERoundTrip(bpe_codes))
        elif name == "swapped_labels":
            fn = {"hoc": v_swapped_labels_hoc, "pubmedqa": v_swapped_labels_qa}.get(dataset, v_swapped_labels_rel)
            res[name] = fn(ctx, rng)
        else:
            res[name] = _BUILDERS[name](ctx, rng)
        res[name] = _safe(ctx, res[name])
        assert len(res[name]) == ctx.n, name
        assert all("\n" not in l for l in res[name]), name
    return res
