"""A small Python API over BioGPT's generation engines: `from biogpt_fairseq import BioGPT`.

    model = BioGPT.from_pretrained("checkpoints/RE-BC5CDR-BioGPT")   # or a Hugging Face directory
    model.extract_relations(["Naloxone reverses the antihypertensive effect of clonidine. ..."])
    model.answer("Do statins reduce mortality?", "We studied ...")    # a PubMedQA fine-tuned model
    model.classify("The tumour cells evaded apoptosis ...")            # a HoC fine-tuned model
    model.generate(["COVID-19 is"], beam=5, max_len=40)                # any model

Generation runs on an engine (`biogpt_fairseq.engines`: fairseq's generator by
default, the original's; CTranslate2 or OpenVINO by name), batched, with
outputs in input order. The task methods decode as the original
release's inference does by default (greedy, the whole sequence within the
model's positions, the original's postprocess), through the dataset specs of
`biogpt_fairseq.downstream`; a fine-tuned checkpoint says which dataset it was
fine-tuned on.
"""
from typing import Iterable, Iterator, List, NamedTuple, Optional, Sequence, Union

from biogpt_fairseq.downstream import only_dataset_of_kind, resolve
from biogpt_fairseq.downstream.extraction import Extractor, documents_from, render
from biogpt_fairseq.generator import Generator, InputTooLongError  # noqa: F401  (an error of the API)
from biogpt_fairseq.textio import UserError


class Triple(NamedTuple):
    head: str
    relation: str
    tail: str


class BioGPT(Generator):
    """A loaded BioGPT (pre-trained or fine-tuned with a prompt): its generation (`Generator`) and its datasets."""

    # --- downstream datasets ------------------------------------------------------------------

    def spec(self, dataset: Optional[str] = None):
        """The spec of the dataset the model was fine-tuned on (a paper dataset, or one defined by files)."""
        if dataset is not None and self.dataset is not None and dataset != self.dataset:
            raise UserError(f"this model was fine-tuned on {self.dataset}, not {dataset}")
        name = dataset or self.dataset
        if name is None:
            raise UserError("the checkpoint does not say which dataset it was fine-tuned on: pass dataset=")
        return resolve(name, self.settings.get("definition") if name == self.dataset else None)

    def _spec(self, dataset: Optional[str], kind: str):
        """The spec a task method decodes with: the dataset asked for, else the model's, else (a checkpoint
        that does not name its dataset, as the original release's) the one registered dataset of `kind`."""
        spec = self.spec(dataset or (None if self.dataset else only_dataset_of_kind(kind)))
        if spec.kind != kind:
            raise UserError(f"{spec.name} is not a {kind} dataset")
        return spec

    def _decoded(self, spec, sources: List[str], decoder: str, beam: int, **options) -> list:
        lines = self.complete(sources, beam=beam, **options)
        settings = self.settings
        variant = (settings.get("variant") if spec.name == settings.get("dataset") else None) or "default"
        return [spec.decode(line, decoder, None, source, variant=variant, layout=self.layout).value
                for line, source in zip(lines, sources)]

    def extract_relations(self, abstracts: Sequence[str], dataset: Optional[str] = None, decoder: str = "original",
                          beam: int = 1, format: Optional[str] = None, **options) -> Union[List[List[Triple]], str]:
        """(head, relation, tail) triples for each abstract, as the model's dataset has them:
        chemical-induced disease ('CID') for bc5cdr, drug-drug interactions for ddi,
        drug-target interactions for kd-dti, yours for a dataset of your own. With `format`
        ('jsonl', 'pubtator', 'bioc-xml', 'bioc-json'), the abstracts (texts, or records with
        "id", "title", "abstract") and their triples rendered in that format, as a string."""
        if format is not None:
            self._spec(dataset, "triples")
            extractor = Extractor(self, decoder, beam, options.pop("max_new_tokens", None))
            return render(extractor.rows(documents_from(abstracts)), format, extractor)
        spec = self._spec(dataset, "triples")
        decoded = self._decoded(spec, [spec.api_source(a) for a in abstracts], decoder, beam, **options)
        return [[Triple(t["head"], t["relation"], t["tail"]) for t in triples] for triples in decoded]

    def extract(self, documents: Iterable, decoder: str = "original", beam: int = 1, batch_docs: int = 64,
                max_new_tokens: Optional[int] = None) -> Iterator[dict]:
        """One result per document, lazily, in input order: documents (texts, records with "id", "text"
        or "title" and "abstract" (and "question" for a qa model), or `formats.Document`s, e.g. from
        `formats.read_documents(path)`) are read and generated `batch_docs` at a time, so any number
        runs in bounded memory. Each result is the record biogpt-extract writes as JSON lines."""
        extractor = Extractor(self, decoder, beam, max_new_tokens, batch_docs)
        for _, row in extractor.rows(documents_from(documents)):
            yield row

    def answer(self, question: Union[str, Sequence[str]], context: Union[str, Sequence[str]],
               long_answer: Union[str, Sequence[str]] = "", decoder: str = "original", beam: int = 1,
               dataset: Optional[str] = None, **options) -> Union[Optional[str], List[Optional[str]]]:
        """The answer to each question (PubMedQA: 'yes', 'no' or 'maybe'), or None where the model's
        sentence gives none. A model of the original's (reasoning-free) data reads the long answer too.
        `dataset` names the dataset for a checkpoint that does not (default: the one registered qa dataset)."""
        if isinstance(question, str):
            return self.answer([question], [context], [long_answer], decoder, beam, dataset, **options)[0]
        long_answer = [long_answer] * len(question) if isinstance(long_answer, str) else long_answer
        if not len(question) == len(context) == len(long_answer):
            raise UserError(f"{len(question)} questions, {len(context)} contexts and {len(long_answer)} long answers")
        spec = self._spec(dataset, "answer")
        sources = [spec.api_source(q, c, a) for q, c, a in zip(question, context, long_answer)]
        return self._decoded(spec, sources, decoder, beam, **options)

    def classify(self, text: Union[str, Sequence[str]], decoder: str = "original", beam: int = 1,
                 dataset: Optional[str] = None, **options) -> Union[List[str], List[List[str]]]:
        """The labels of each text (HoC: Hallmarks of Cancer, 'empty' for none). `dataset` names the
        dataset for a checkpoint that does not (default: the one registered labels dataset)."""
        if isinstance(text, str):
            return self.classify([text], decoder, beam, dataset, **options)[0]
        spec = self._spec(dataset, "labels")
        return self._decoded(spec, [spec.api_source(t) for t in text], decoder, beam, **options)
