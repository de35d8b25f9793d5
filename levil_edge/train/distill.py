"""``distill``: LEViL zero-shot distillation (+ optional FD-VLM feature distillation).

The student learns the teacher's soft targets over the M pseudo-labels, q = softmax(cos / tau),
from one random clip of each unlabeled video; with ``feature_weight > 0`` an embedding head sized
to the teacher's embedding also regresses the teacher's normalised video embedding."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from levil_edge.train.run_options import DistillOptions


def read_vocab(path: str | Path) -> list[str]:
    """Pseudo-labels, one per line (tab-separated extra columns, e.g. counts, are ignored)."""
    from levil_edge.errors import VocabError

    p = Path(path)
    if not p.is_file():
        raise VocabError(f"no vocabulary at {p}: build one with `levil-edge vocab`")
    labels = [line.split("\t")[0].strip() for line in p.read_text(encoding="utf-8").splitlines()]
    labels = [t for t in labels if t and not t.startswith("#")]
    if len(labels) < 2:
        raise VocabError(f"{p} has {len(labels)} pseudo-labels; distillation needs at least 2")
    if len(set(labels)) != len(labels):
        dup = sorted({t for t in labels if labels.count(t) > 1})
        raise VocabError(f"{p} repeats pseudo-labels {dup[:5]}: remove the duplicates")
    return labels


def distill(opts: DistillOptions | None = None, **kwargs: Any) -> dict[str, Any]:
    """Run (or resume) a distillation run; returns the summary dict (also ``<out>/summary.json``).

    ``distill(DistillOptions(...))`` or ``distill(videos=..., vocab=..., teacher=..., out=..., epochs=...)``."""
    from levil_edge.config import ModelConfig
    from levil_edge.data.specs import load_spec
    from levil_edge.errors import DatasetError
    from levil_edge.students import create_student, get_default_cfg
    from levil_edge.train import common
    from levil_edge.train.data import Source
    from levil_edge.train.loop import Trainer
    from levil_edge.train.target_table import TeacherSetup, load_target_table
    from levil_edge.train.tasks import DistillTask

    opts = opts or DistillOptions(**kwargs)
    opts = common.with_student_geometry(opts)  # frames / stride / size: the student's unless set
    vocab = read_vocab(opts.vocab)
    dist, run = common.setup(opts)
    spec = load_spec(opts.videos, root=opts.root)
    if not spec.items:
        raise DatasetError(f"{opts.videos}: no videos found")
    with_embed = opts.feature_weight > 0
    teacher = TeacherSetup(opts.teacher, Path(opts.cache or Path(opts.out) / "teacher_cache"), opts.device,
                           opts.teacher_batch_size, opts.trust_remote_code, opts.decoder, opts.teacher_adapter)
    table, valid, info = load_target_table(teacher, spec.items, vocab, opts.template, opts.tau, dist, with_embed)
    items, rows = common.keep_valid(spec.items, valid)
    if not items:
        raise DatasetError(f"{opts.videos}: the teacher could decode none of the {len(spec.items)} videos")
    table.soft = table.soft[rows]
    table.embed = None if table.embed is None else table.embed[rows]

    embed_dim = int(table.embed.shape[-1]) if with_embed else None
    common.seed_everything(opts.seed)  # again: loading/filling the teacher may have drawn random numbers
    model = create_student(opts.student, len(vocab), embed_dim=embed_dim, dropout=opts.dropout)
    default = get_default_cfg(opts.student)
    norm = {"mean": tuple(default["mean"]), "std": tuple(default["std"])}  # the student's input normalisation
    cfg = ModelConfig(student=opts.student, num_classes=len(vocab), labels=vocab, label_kind="pseudo",
                      frames=opts.frames, stride=opts.stride, size=opts.size, **norm, embed_dim=embed_dim,
                      run=str(opts.out), extra={"teacher": info["teacher_id"], "tau": opts.tau, "template": opts.template})
    per_batch = opts.batch_size
    loader = common.build_loader([Source("videos", items, per_batch)], opts, dist, len(items), per_batch, info["views"],
                                 **norm)
    task = DistillTask(table.to(dist.device), feature_weight=opts.feature_weight)
    run_info = {"num_videos": len(items), "num_pseudo_labels": len(vocab), "teacher": info["teacher_id"],
                "teacher_skipped_videos": info["teacher_bad_videos"], "student": opts.student}
    trainer = Trainer(model, task, loader, run, common.optim_config(opts), cfg, dist, with_embed=with_embed,
                      tensorboard=opts.tensorboard, run_info=run_info)
    result = trainer.fit(resume=opts.resume)
    result["bad_videos"] = sorted(set(result["bad_videos"]) | set(info["teacher_bad_videos"]))
    return common.finish(result, run, dist)
