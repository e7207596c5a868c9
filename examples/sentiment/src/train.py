"""train: fine-tune the classifier with PyTorch Lightning (CUDA when present,
the CPU otherwise); write models/model.safetensors, models/model.json, the
per-epoch training loss to plots/epochs.csv and, through tether's Lightning
logger, the per-step loss to train/steps.tsv and a summary to
train/summary.json (no timings: equal inputs give identical files)."""

from __future__ import annotations

import json
import sys
import time

import common

PROGRESS_EVERY = 10  # steps between plain progress lines when stdout is not a terminal


def main() -> None:
    p = common.params("train")
    import warnings

    warnings.filterwarnings("ignore", message=".*LeafSpec.*")  # inside Lightning, not ours
    import lightning as L
    import torch
    from safetensors.torch import save_file
    from torch.utils.data import DataLoader

    from tether import live
    from tether.live_lightning import TetherLogger

    if p["mode"] not in ("head", "last", "all"):
        sys.exit(f"params.yaml: train.mode must be head, last or all, not {p['mode']!r}")
    common.quiet_libraries()
    L.seed_everything(p["seed"], workers=True, verbose=False)
    tok = common.tokenizer()
    model = common.build_classifier(p["model"], tok.vocab_size, pretrained=True)
    encoder_params = list(model.encoder.parameters())
    for param in encoder_params:
        param.requires_grad = p["mode"] == "all"
    if p["mode"] == "last":
        for param in model.encoder.encoder.layer[-1].parameters():
            param.requires_grad = True
    train = common.load_split("train")
    on_terminal = sys.stdout.isatty()  # there Lightning's own bar shows progress

    class Module(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.model = model
            self.losses: list[float] = []

        def training_step(self, batch: dict[str, torch.Tensor], _: int) -> torch.Tensor:
            logits = self.model(batch["input_ids"], batch["attention_mask"])
            loss = torch.nn.functional.cross_entropy(logits, batch["label"])
            self.losses.append(float(loss.detach()))
            self.log("step_loss", loss.detach(), on_step=True, on_epoch=False)
            step = self.global_step + 1
            if not on_terminal and step % PROGRESS_EVERY == 0:
                print(
                    f"train: step {step}/{self.trainer.estimated_stepping_batches}:"
                    f" loss {self.losses[-1]:.4f} ({time.monotonic() - start:.0f} s)",
                    flush=True,
                )
            return loss

        def on_train_epoch_end(self) -> None:
            mean = round(sum(self.losses) / max(len(self.losses), 1), 6)
            epochs.log({"train_loss": mean}, step=self.current_epoch + 1)
            # in train/steps.tsv at the epoch's last step (self.log would round it to float32)
            logger.log_metrics({"train_loss": mean}, step=self.global_step - 1)
            print(f"train: epoch {self.current_epoch + 1}: loss {mean:.4f}", flush=True)
            self.losses = []

        def on_train_end(self) -> None:  # before Lightning closes the logger
            logger.run.summary({"epoch": None, "epochs": p["epochs"], "steps": self.global_step})

        def configure_optimizers(self) -> torch.optim.Optimizer:
            groups = [{"params": self.model.head.parameters(), "lr": p["lr_head"]}]
            trainable = [q for q in encoder_params if q.requires_grad]
            if trainable:
                groups.append({"params": trainable, "lr": p["lr_encoder"]})
            return torch.optim.AdamW(groups)

    module = Module()
    module.train()  # from_pretrained hands the encoder over in eval mode
    loader = DataLoader(
        train,
        batch_size=p["batch_size"],
        shuffle=True,
        generator=torch.Generator().manual_seed(p["seed"]),
    )
    plots = common.ROOT / "plots"
    epochs = live.Run(plots, steps="epochs.csv", step_column="epoch", summary=None)
    logger = TetherLogger(common.ROOT / "train")  # steps.tsv, summary.json
    trainer = L.Trainer(
        accelerator="auto",
        devices=1,
        max_epochs=p["epochs"],
        deterministic=True,
        logger=logger,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=on_terminal and sys.stderr.isatty(),
        log_every_n_steps=1,
    )
    start = time.monotonic()
    trainer.fit(module, loader)
    device = str(trainer.strategy.root_device)
    print(f"train: {p['epochs']} epoch(s) on {device} in {time.monotonic() - start:.1f} s")
    out = common.ROOT / "models"
    out.mkdir(exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    spec = {"model": p["model"], "vocab_size": tok.vocab_size, "mode": p["mode"]}
    (out / "model.json").write_text(json.dumps(spec, indent=2, sort_keys=True) + "\n")
    epochs.close()


if __name__ == "__main__":
    main()
