"""Adding a dataset is one spec module and one short config: a toy one through the whole chain, with
decoding resources and a scorer option of its own that the generic tools serve as they are."""
import json
import os
import sys

from conftest import REPO, TINY_MODEL, run_tool

TOY_SPEC = '''
"""A toy dataset: drug pairs that 'bind', sentences read from tsv files (id, text, head, tail); decoding
names the drugs' ids from the raw folder's ids.tsv (or --toy-ids), and `--toy-match id` scores by id."""
from pathlib import Path

from biogpt_fairseq.downstream.relations import RelationSpec, RelationTemplate
from biogpt_fairseq.downstream.spec import Example, SpecOption, register


class DrugIds:
    def __init__(self, path):
        self.ids = dict(line.split("\\t") for line in Path(path).read_text(encoding="utf-8").splitlines())

    def for_document(self, doc_id):
        return self.ids


@register
class Binding(RelationSpec):
    name = "toy-binding"
    folder = "TOY"
    raw_files = {"train": "train.tsv", "valid": "valid.tsv", "test": "test.tsv"}
    gold_files = raw_files
    forms = {"binds": RelationTemplate("{head} binds {tail}", r"(.*) binds (.*)", ("head", "tail"))}
    relation_name = "binds"
    decoding_reads_raw_data = True
    decoding_options = (SpecOption("--toy-ids", "drug names to ids (default: the raw folder's ids.tsv)"),)
    scorer_options = (SpecOption("--toy-match", "match triples by 'name' or by 'id'", "name", ("name", "id")),)

    def decoding_resources(self, raw_dir, split, decoder="original", toy_ids=None):
        return DrugIds(toy_ids or Path(raw_dir) / "ids.tsv")

    def triple(self, slots, resources, robust=False):
        triple = super().triple(slots, resources)
        if resources is not None:
            triple.update(head_id=resources.get(slots["head"], "?"), tail_id=resources.get(slots["tail"], "?"))
        return triple

    def records(self, path):
        for line in path.read_text(encoding="utf-8").splitlines():
            doc_id, text, head, tail = line.split("\\t")
            yield doc_id, text, [(head, "binds", tail)]

    def examples(self, raw_dir, split, variant="default"):
        for doc_id, text, gold in self.records(self.raw_path(raw_dir, split)):
            yield Example(doc_id, text.lower(), self.verbalize(gold, variant), gold)

    def documents(self, raw_dir, split):
        for doc_id, text, _ in self.records(self.raw_path(raw_dir, split)):
            yield doc_id, text

    def score(self, predictions, gold_path, toy_match="name"):
        gold = {doc_id: {(h.lower(), t.lower()) for h, _, t in triples} for doc_id, _, triples in self.records(gold_path)}
        if toy_match == "id":
            ids = DrugIds(Path(gold_path).parent / "ids.tsv").ids
            gold = {doc_id: {(ids[h], ids[t]) for h, t in pairs} for doc_id, pairs in gold.items()}
        keys = ("head_id", "tail_id") if toy_match == "id" else ("head", "tail")
        found = sum(len({(t[keys[0]], t[keys[1]]) for t in p["triples"]} & gold[p["pmid"]]) for p in predictions)
        return {"found": found, "recall": found / sum(map(len, gold.values()))}

    def headline(self, figures):
        return "recall", figures["recall"]
'''

TOY_CONFIG = """# @package _global_
# toy-binding: the tiny CPU recipe, a prompt of 3 tokens.
defaults:
  - tiny_cpu

task:
  learned_prompt: 3
"""

DRUGS = ["aspirin", "warfarin", "heparin", "insulin", "imatinib", "ibuprofen", "caffeine", "codeine"]


def test_a_toy_dataset_runs_through_build_training_generation_decoding_and_scoring(tiny_corpus, tiny_pretrained,
                                                                                    tmp_path):
    (tmp_path / "toy_spec.py").write_text(TOY_SPEC)
    env = {"BIOGPT_DATASETS": "toy_spec", "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    raw = tmp_path / "mirror" / "TOY" / "raw"
    raw.mkdir(parents=True)
    for split, n in [("train", 40), ("valid", 8), ("test", 8)]:
        lines = [f"{split}{i}\t{DRUGS[i % 8].title()} binds {DRUGS[(i + 3) % 8]} in vitro.\t{DRUGS[i % 8]}\t"
                 f"{DRUGS[(i + 3) % 8]}" for i in range(n)]
        (raw / f"{split}.tsv").write_text("\n".join(lines) + "\n")
    (raw / "ids.tsv").write_text("".join(f"{drug}\tDRUG:{i}\n" for i, drug in enumerate(DRUGS)))
    configs = tmp_path / "configs" / "finetune"
    configs.mkdir(parents=True)
    (configs / "toy.yaml").write_text(TOY_CONFIG)

    out = tmp_path / "toy"
    run_tool(REPO / "preprocess" / "finetune.sh", "toy-binding", out, "--data", tmp_path / "mirror",
             "--bpe-codes", tiny_corpus / "bpecodes", "--dict", tiny_corpus / "dict.txt", env=env)
    data_bin = out / "data-bin"
    assert json.loads((data_bin / "manifest.json").read_text())["dataset"] == "toy-binding"
    assert (out / "raw" / "test.y").read_text().splitlines()[1] == "warfarin binds imatinib."
    run_tool("fairseq-hydra-train", "--config-dir", REPO / "hydra_configs", "--config-name", "finetune",
             "finetune=toy", f"hydra.searchpath=[file://{tmp_path / 'configs'}]", f"task.data={data_bin}",
             f"common.user_dir={REPO / 'biogpt_fairseq'}", f"checkpoint.finetune_from_model={tiny_pretrained}",
             f"checkpoint.save_dir={tmp_path / 'ckpt'}", "optimization.max_update=3",
             *[f"model.{k[2:].replace('-', '_')}={v}" for k, v in zip(TINY_MODEL[::2], TINY_MODEL[1::2])],
             f"hydra.job_logging.handlers.file.filename={tmp_path}/hydra_train.log", env=env, cwd=tmp_path)
    generated = run_tool("fairseq-generate", data_bin, "--user-dir", REPO / "biogpt_fairseq", "--task",
                         "language_modeling_prompt", "--path", tmp_path / "ckpt" / "checkpoint_last.pt",
                         "--gen-subset", "test", "--beam", 1, "--max-len-a", 1, "--max-len-b", 8, "--cpu",
                         env=env).stdout.decode()
    (tmp_path / "gen.txt").write_text(generated)
    assert sum(line.startswith("S-") and " learned1 learned2 learned3" in line for line in generated.splitlines()) == 8
    run_tool(sys.executable, REPO / "bin" / "postprocess_rel.py", tmp_path / "gen.txt", "--data-bin", data_bin, env=env)
    rows = [json.loads(line) for line in (tmp_path / "gen.txt.extracted.jsonl").read_text().splitlines()]
    assert [r["pmid"] for r in rows] == [f"test{i}" for i in range(8)]
    scores = json.loads(run_tool(sys.executable, REPO / "bin" / "evaluate.py", tmp_path / "gen.txt.extracted.jsonl",
                                 "--data-bin", data_bin, env=env).stdout)
    assert scores["dataset"] == "toy-binding" and scores["recall"] == scores["found"] / 8
    # the spec's decoder and scorer on the gold targets
    (tmp_path / "gold.txt").write_text((out / "raw" / "test.y").read_text())
    run_tool(sys.executable, REPO / "bin" / "postprocess_rel.py", tmp_path / "gold.txt", "--data-bin", data_bin, env=env)
    scores = json.loads(run_tool(sys.executable, REPO / "bin" / "evaluate.py", tmp_path / "gold.txt.extracted.jsonl",
                                 "--data-bin", data_bin, env=env).stdout)
    assert scores == {"dataset": "toy-binding", "found": 8, "recall": 1.0}
    # its decoding resources (the ids) and its scorer option, served by the generic tools
    rows = [json.loads(line) for line in (tmp_path / "gold.txt.extracted.jsonl").read_text().splitlines()]
    assert rows[1]["triples"] == [{"head": "warfarin", "relation": "binds", "tail": "imatinib",
                                   "head_id": "DRUG:1", "tail_id": "DRUG:4"}]
    scores = json.loads(run_tool(sys.executable, REPO / "bin" / "evaluate.py", tmp_path / "gold.txt.extracted.jsonl",
                                 "--data-bin", data_bin, "--toy-match", "id", env=env).stdout)
    assert scores == {"dataset": "toy-binding", "found": 8, "recall": 1.0}
    (raw / "other_ids.tsv").write_text("".join(f"{drug}\tOTHER:{i}\n" for i, drug in enumerate(DRUGS)))
    run_tool(sys.executable, REPO / "bin" / "postprocess_rel.py", tmp_path / "gold.txt", "--data-bin", data_bin,
             "--toy-ids", raw / "other_ids.tsv", env=env)
    rows = [json.loads(line) for line in (tmp_path / "gold.txt.extracted.jsonl").read_text().splitlines()]
    assert rows[1]["triples"][0]["head_id"] == "OTHER:1"
    scores = json.loads(run_tool(sys.executable, REPO / "bin" / "evaluate.py", tmp_path / "gold.txt.extracted.jsonl",
                                 "--data-bin", data_bin, "--toy-match", "id", env=env).stdout)
    assert scores == {"dataset": "toy-binding", "found": 0, "recall": 0.0}
