"""Fine-tuning against the frozen probe it starts from, per task (issue 25 item 4).

Reads the ``results.csv`` of ``sk-cria benchmark`` runs (see
``benchmarks/results/README.md`` for the commands) and writes, per task,
protocol and head input, each fine-tuning's balanced accuracy beside the
frozen probe of the same encoder and the best floor of the same run, with the
paired differences over the same splits and seeds.

    python benchmarks/bench_finetune.py benchmarks/results/finetune-eegmat \
        benchmarks/results/finetune-eegmmidb-mi --out benchmarks/results/finetune.md
"""

import argparse
from pathlib import Path

import pandas as pd

from sk_cria.benchmark import margins

#: Fine-tuning -> the probe of the same starting weights.
PAIRS = {"shipped": ("cria_finetune_shipped", "cria_probe_shipped"),
         "scratch": ("cria_finetune_scratch", "cria_probe_random")}


def _suffix(embedding):
    return "" if embedding == "pooled" else f"_{embedding}"


def _paired(frame, a, b):
    """Mean of a, of b, mean and sd of a - b over shared (seed, fold), and a's wins."""
    merged = frame[frame.pipeline == a].merge(frame[frame.pipeline == b],
                                              on=["seed", "fold"], suffixes=("", "_b"))
    diff = merged.bacc - merged.bacc_b
    return (merged.bacc.mean(), merged.bacc_b.mean(), diff.mean(), diff.std(ddof=1),
            int((diff > 0).sum()), len(diff))


def rows(folder):
    """One row per protocol, start and head input found in one run."""
    frame = pd.read_csv(Path(folder) / "results.csv")
    frame = frame[frame.budget.astype(str) == "all"]  # every training subject labelled
    best = margins(frame.to_dict("records"))
    out = []
    for (protocol, recipe), part in frame.groupby(["protocol", "recipe"]):
        floors = best[(best.protocol == protocol) & (best.recipe == recipe)]
        floor = floors.floor.iloc[0] if len(floors) else None
        floor_bacc = part[part.pipeline == floor].bacc.mean() if floor else float("nan")
        for start, (finetune, probe) in PAIRS.items():
            for embedding in ("pooled", "regions"):
                a, b = finetune + _suffix(embedding), probe + _suffix(embedding)
                if not {a, b} <= set(part.pipeline):
                    continue
                ft, pr, d, sd, wins, n = _paired(part, a, b)
                out.append(dict(task=part.task.iloc[0], protocol=protocol, recipe=recipe,
                                start=start, head_input=embedding, probe=pr, finetuned=ft,
                                d=d, sd=sd, wins=f"{wins}/{n}", floor=floor,
                                floor_bacc=floor_bacc, d_floor=ft - floor_bacc))
    return out


def markdown(table):
    lines = ["| task | protocol | start | head input | frozen probe | fine-tuned | "
             "fine-tuned - probe (folds won) | best floor | fine-tuned - floor |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in table.itertuples():
        sd = "" if pd.isna(r.sd) else f" ± {r.sd:.3f}"
        lines.append(f"| {r.task} | {r.protocol} | {r.start} | {r.head_input} | "
                     f"{r.probe:.3f} | {r.finetuned:.3f} | {r.d:+.3f}{sd} ({r.wins}) | "
                     f"{r.floor} {r.floor_bacc:.3f} | {r.d_floor:+.3f} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folders", nargs="+", help="output folders of sk-cria benchmark")
    parser.add_argument("--out", help="write the table here (Markdown); else print it")
    args = parser.parse_args()
    table = pd.DataFrame([row for folder in args.folders for row in rows(folder)])
    text = markdown(table)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
