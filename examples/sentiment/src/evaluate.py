"""evaluate: accuracy, F1 (fresh = positive) and loss on the test split, to
metrics.json. No timings: equal inputs give an identical file."""

from __future__ import annotations

import json

import common


def main() -> None:
    import torch
    from safetensors.torch import load_file
    from torch.utils.data import DataLoader

    spec = json.loads((common.ROOT / "models" / "model.json").read_text())
    model = common.build_classifier(spec["model"], spec["vocab_size"], pretrained=False)
    model.load_state_dict(load_file(str(common.ROOT / "models" / "model.safetensors")))
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device).eval()
    test = common.load_split("test")
    tp = fp = fn = correct = 0
    loss_sum = 0.0
    with torch.no_grad():
        for batch in DataLoader(test, batch_size=64):
            logits = model(batch["input_ids"].to(device), batch["attention_mask"].to(device))
            labels = batch["label"].to(device)
            loss_sum += float(torch.nn.functional.cross_entropy(logits, labels, reduction="sum"))
            pred = logits.argmax(-1)
            correct += int((pred == labels).sum())
            tp += int(((pred == 1) & (labels == 1)).sum())
            fp += int(((pred == 1) & (labels == 0)).sum())
            fn += int(((pred == 0) & (labels == 1)).sum())
    n = len(test)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    metrics = {
        "accuracy": round(correct / n, 4),
        "f1": round(f1, 4),
        "loss": round(loss_sum / n, 4),
        "test_examples": n,
    }
    (common.ROOT / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(f"evaluate: {metrics}")


if __name__ == "__main__":
    main()
