"""Source, soft prompt and target as one language-modelling sequence."""
import numpy as np
import torch
from fairseq.data import FairseqDataset, data_utils


class PromptedPairDataset(FairseqDataset):
    """Items are `[eos] source prompt target eos`, the source truncated to fit.

    The leading eos matches pre-training, where every document follows an eos,
    and generation, which starts from eos. Each item also carries its prefix
    (`source prompt`, or `prompt source` with `prefix=True`): generation is
    conditioned on it and emits only what follows.
    """

    def __init__(self, src, tgt, dictionary, prompt: torch.Tensor, max_source_positions: int,
                 max_positions: int, prefix: bool = False, loss_on_target_only: bool = True, shuffle: bool = True):
        self.src, self.tgt, self.dictionary = src, tgt, dictionary
        self.prompt = prompt.long()
        self.max_source_positions, self.max_positions = max_source_positions, max_positions
        self.prefix, self.loss_on_target_only, self.shuffle = prefix, loss_on_target_only, shuffle
        self.pad, self.eos = dictionary.pad(), dictionary.eos()
        tgt_sizes = np.asarray(tgt.sizes) if tgt is not None else np.zeros(len(src), dtype=np.int64)
        # The model reads `eos source prompt target` minus the final eos: source + prompt + target tokens.
        source_room = np.minimum(self.max_source_positions, self.max_positions - len(self.prompt) - tgt_sizes)
        self.src_sizes = np.clip(np.minimum(np.asarray(src.sizes) - 1, source_room), 0, None)  # without its eos
        self.sizes = self.src_sizes + len(self.prompt) + tgt_sizes

    def __getitem__(self, index):
        source = self.src[index][:-1][: self.src_sizes[index]]  # drop the eos, then truncate to fit
        prefix = torch.cat([self.prompt, source]) if self.prefix else torch.cat([source, self.prompt])
        prefix = torch.cat([prefix.new([self.eos]), prefix])
        target = self.tgt[index] if self.tgt is not None else prefix.new([])
        sequence = torch.cat([prefix, target])
        labels = sequence[1:].clone()
        if self.loss_on_target_only:
            labels[: len(prefix) - 1] = self.pad  # the criterion ignores padding
        return {"id": index, "input": sequence[:-1] if len(target) else sequence, "labels": labels,
                "prefix": prefix, "target": target}

    def __len__(self):
        return len(self.src)

    def collater(self, samples):
        if not samples:
            return {}
        inputs = data_utils.collate_tokens([s["input"] for s in samples], self.pad)
        return {
            "id": torch.LongTensor([s["id"] for s in samples]),
            "nsentences": len(samples),
            "ntokens": sum(int(s["labels"].ne(self.pad).sum()) for s in samples),
            "net_input": {"src_tokens": inputs, "src_lengths": torch.LongTensor([len(s["input"]) for s in samples])},
            "target": data_utils.collate_tokens([s["labels"] for s in samples], self.pad),
            # generation: right-padded prefixes (the generator frees a row once its prefix ends), answers
            "prefix_tokens": data_utils.collate_tokens([s["prefix"] for s in samples], self.pad),
            "target_tokens": data_utils.collate_tokens([s["target"] for s in samples], self.pad)
            if len(samples[0]["target"]) else None,
        }

    def num_tokens(self, index):
        return int(self.sizes[index])

    def size(self, index):
        return int(self.sizes[index])

    def ordered_indices(self):
        order = np.random.permutation(len(self)) if self.shuffle else np.arange(len(self))
        return order[np.argsort(self.sizes[order], kind="mergesort")]

    @property
    def supports_prefetch(self):
        return False
