"""Training progress bar (loss, lr, clips/s, ETA) and the loss-curve PNG of a run."""

from __future__ import annotations

from rich.progress import TextColumn

from levil_edge.utils.progress import progress_bar


class TrainProgress:
    """A rich bar over all steps of the run; silent on ranks other than 0 and when not a TTY."""

    def __init__(self, total: int, completed: int = 0, enabled: bool = True, description: str = "train"):
        self.enabled = enabled
        self.bar = progress_bar(TextColumn("loss {task.fields[loss]}  lr {task.fields[lr]}  {task.fields[clips_s]} clips/s")) if enabled else None
        self.total, self.completed, self.description = total, completed, description

    def __enter__(self) -> "TrainProgress":
        if self.bar is not None:
            self.bar.__enter__()
            self.task = self.bar.add_task(self.description, total=self.total, completed=self.completed,
                                          loss="-", lr="-", clips_s="-")
        return self

    def update(self, step: int, loss: float, lr: float, clips_s: float) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=step, loss=f"{loss:.4f}", lr=f"{lr:.2e}", clips_s=f"{clips_s:.1f}")

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)


def write_loss_curve(run) -> None:
    """loss_curve.png from metrics.jsonl: step losses, and validation top-1 when there is one."""
    from levil_edge.utils.plots import line_plot

    records = run.read_metrics()
    steps = [r for r in records if r.get("kind") == "step" and "loss" in r]
    if not steps:
        return
    series = {"train loss": ([r["step"] for r in steps], [r["loss"] for r in steps])}
    epochs = [r for r in records if r.get("kind") == "epoch"]
    if epochs:
        series["epoch mean loss"] = ([r["step"] for r in epochs], [r["train_loss"] for r in epochs])
    line_plot(run.path / "loss_curve.png", series, title=run.path.name, xlabel="step", ylabel="loss")
    val = [r for r in epochs if "val_top1" in r]
    if val:
        line_plot(run.path / "val_curve.png", {"val top-1": ([r["epoch"] for r in val], [r["val_top1"] for r in val])},
                  title=run.path.name, xlabel="epoch", ylabel="top-1")
