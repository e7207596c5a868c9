"""tether.live_lightning.TetherLogger under a real Lightning Trainer (CPU, tiny model)."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any

import pytest

# Found, not imported: collecting this file (also for `-m "not slow"`) stays fast.
_MISSING = [m for m in ("lightning", "torch") if importlib.util.find_spec(m) is None]
if _MISSING:
    if os.environ.get("TETHER_REQUIRE_EXAMPLES"):
        raise ImportError(f"the examples extra is not installed: {_MISSING}")
    pytest.skip(f"needs the examples extra: {_MISSING}", allow_module_level=True)

pytestmark = [
    pytest.mark.slow,  # importing torch and Lightning takes seconds
    pytest.mark.filterwarnings("ignore:.*LeafSpec.*:FutureWarning"),  # inside Lightning
]


def fit(tmp_path: Path, logger: Any) -> Any:
    import lightning as L
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    class Tiny(L.LightningModule):
        def __init__(self, lr: float = 0.1, hidden: int = 4) -> None:
            super().__init__()
            self.save_hyperparameters()
            self.layer = torch.nn.Linear(3, 1)

        def training_step(self, batch: Any, _: int) -> torch.Tensor:
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.layer(x), y)
            self.log("train_loss", loss, on_step=True, on_epoch=True)
            return loss

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=self.hparams["lr"])

    torch.manual_seed(0)
    data = TensorDataset(torch.randn(16, 3), torch.randn(16, 1))
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=2,
        logger=logger,
        log_every_n_steps=1,
        enable_progress_bar=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(Tiny(), DataLoader(data, batch_size=4))
    return trainer


def test_tether_logger_writes_steps_params_and_summary(tmp_path):
    from tether.live_lightning import TetherLogger

    logger = TetherLogger(dir=tmp_path / "train")
    fit(tmp_path, logger)
    folder = tmp_path / "train"
    assert sorted(p.name for p in folder.iterdir()) == ["params.json", "steps.tsv", "summary.json"]
    lines = [line.split("\t") for line in (folder / "steps.tsv").read_text().splitlines()]
    header, body = lines[0], lines[1:]
    assert header[0] == "step"
    assert {"train_loss_step", "train_loss_epoch", "epoch"} <= set(header)
    steps = [int(r[0]) for r in body]
    assert steps == sorted(set(steps))  # one row per step, in order
    assert steps[-1] == 7  # 4 batches x 2 epochs, 0-based
    assert all(len(r) == len(header) for r in body)
    epoch_col = header.index("train_loss_epoch")
    assert sum(1 for r in body if r[epoch_col]) == 2  # one epoch mean per epoch
    summary = json.loads((folder / "summary.json").read_text())
    assert set(summary) == {"train_loss_step", "train_loss_epoch", "epoch"}
    assert summary["epoch"] == 1
    assert summary["train_loss_epoch"] == pytest.approx(float(body[-1][epoch_col]))
    assert json.loads((folder / "params.json").read_text()) == {"lr": 0.1, "hidden": 4}


def test_tether_logger_summary_additions_and_own_file_names(tmp_path):
    from tether.live_lightning import TetherLogger

    logger = TetherLogger(dir=tmp_path, steps="curve.csv", summary="train.json")
    logger.run.summary({"best": 0.5})
    fit(tmp_path, logger)
    assert (tmp_path / "curve.csv").read_text().startswith("step,")
    summary = json.loads((tmp_path / "train.json").read_text())
    assert summary["best"] == 0.5
    assert "train_loss_epoch" in summary
    assert logger.save_dir == str(tmp_path)
