"""evaluate: accuracy, F1 (fresh = positive) and loss on the test split, to
metrics.json; for `tether plots`, each snippet's true and predicted class to
eval/confusion.csv and the precision-recall curve to eval/pr.json. No timings:
equal inputs give identical files."""

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
    pairs: list[tuple[int, int]] = []  # (true, predicted) class of each snippet
    scores: list[tuple[float, int]] = []  # (P(fresh), true class) of each snippet
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
            pairs += zip(labels.tolist(), pred.tolist(), strict=True)
            fresh = torch.softmax(logits, -1)[:, 1]
            scores += zip(fresh.tolist(), labels.tolist(), strict=True)
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
    write_plots(pairs, scores)
    print(f"evaluate: {metrics}")


CLASSES = ("rotten", "fresh")


def write_plots(pairs: list[tuple[int, int]], scores: list[tuple[float, int]]) -> None:
    """eval/confusion.csv (one row per snippet) and eval/pr.json (precision and
    recall of `fresh` at 21 thresholds of its probability)."""
    folder = common.ROOT / "eval"
    folder.mkdir(exist_ok=True)
    rows = "".join(f"{CLASSES[t]},{CLASSES[p]}\n" for t, p in pairs)
    (folder / "confusion.csv").write_text("actual,predicted\n" + rows)
    positives = sum(label for _, label in scores)
    curve = []
    for step in range(21):
        threshold = step / 20
        picked = [label for score, label in scores if score >= threshold]
        hits = sum(picked)
        curve.append(
            {
                "threshold": threshold,
                "precision": round(hits / len(picked), 4) if picked else 1.0,
                "recall": round(hits / positives, 4) if positives else 0.0,
            }
        )
    (folder / "pr.json").write_text(json.dumps(curve, indent=1) + "\n")


if __name__ == "__main__":
    main()
