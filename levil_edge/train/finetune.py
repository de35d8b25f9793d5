"""``finetune``: LEViL target-label-set-aware fine-tuning (TLSA), FD-VLM pseudo-labels, or the
plain supervised baseline.

loss = ce_weight * CE(labeled clips) + soft_weight * soft-CE(teacher zero-shot q over the C
classes, unlabeled clips) [+ pseudo_weight * CE(argmax q) where max q > pseudo_threshold].
Every batch mixes labeled and unlabeled clips (``unlabeled_fraction``; paper 40 + 40). On fully
labeled data (no unlabeled pool) the teacher's q goes to the labeled clips, soft-CE beside CE."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from levil_edge.train.run_options import FinetuneOptions

log = logging.getLogger(__name__)


def read_classes(path: str | Path) -> list[str]:
    from levil_edge.data.specs import read_labels
    from levil_edge.errors import DatasetError

    classes = read_labels(path)
    if len(classes) < 2:
        raise DatasetError(f"{path} names {len(classes)} classes; fine-tuning needs at least 2")
    return classes


def labeled_pools(opts: FinetuneOptions, classes: list[str], run_path: Path | None):
    """(labeled items with labels indexing ``classes``, unlabeled items). The labeled subset is
    stratified from --train (--label-ratio / --labels-per-class) and written to labeled.txt."""
    from levil_edge.data.specs import DatasetSpec, VideoItem, load_spec
    from levil_edge.data.subsets import split_labeled, write_list
    from levil_edge.errors import DatasetError
    from levil_edge.eval_report import label_index_map

    spec = load_spec(opts.train, root=opts.root)
    if not spec.items:
        raise DatasetError(f"{opts.train}: no videos found")
    if not spec.labeled:
        raise DatasetError(f"{opts.train}: --train needs a label for every video (class folders, `path label` lines, CSV)")
    mapping = label_index_map(spec.classes, classes, what=f"--train {opts.train} has classes missing from {opts.labels}: "
                              "{shown}; add them to the labels file or leave those videos out")
    spec = DatasetSpec([VideoItem(it.path, int(mapping[it.label])) for it in spec.items], list(classes), spec.kind, spec.source)
    if opts.label_ratio is not None or opts.labels_per_class is not None:
        labeled, rest = split_labeled(spec, opts.label_ratio, opts.labels_per_class, seed=opts.seed)
        if run_path is not None:
            write_list(run_path / "labeled.txt", labeled)
        labeled, pool = labeled.items, [VideoItem(it.path) for it in rest.items]  # unlabeled: labels dropped
    else:
        labeled, pool = spec.items, []
    if opts.unlabeled:
        pool = [VideoItem(it.path) for it in load_spec(opts.unlabeled, root=opts.root).items]
    return list(labeled), pool


def init_student(opts: FinetuneOptions, num_classes: int):
    """-> (model with a fresh C-class head, student name, clip geometry, description of the init).

    Geometry (frames, stride, size, mean, std): an option the user set wins; otherwise the init
    checkpoint's (a pretrained student keeps what it was trained with); otherwise the student's
    registry default cfg."""
    from levil_edge.errors import UsageError
    from levil_edge.students import create_student, get_default_cfg, load_checkpoint
    from levil_edge.train.common import GEOMETRY
    from levil_edge.train.run import find_run_checkpoint

    name = opts.student or "r3d_18"
    default = get_default_cfg(name)
    geometry = {k: default[k] for k in GEOMETRY}
    path = Path(opts.init) if opts.init else None
    if path is None or path.suffix in (".pth", ".pt", ".bin", ".ckpt"):  # scratch, or torchvision-style backbone
        model = create_student(name, num_classes, dropout=opts.dropout, pretrained=path)
        desc = "scratch" if path is None else f"backbone {path}"
    else:
        ckpt = find_run_checkpoint(path)
        model, cfg = load_checkpoint(ckpt)
        if opts.student and opts.student != cfg.student:
            raise UsageError(f"--student {opts.student} but --init {path} is a {cfg.student}: drop --student")
        model.reset_classifier(num_classes)  # pseudo-label head -> C target classes
        model.set_embed_head(None)  # the feature-distillation head has no use here
        model.train()
        name, desc = cfg.student, str(ckpt)
        geometry = {"frames": cfg.frames, "stride": cfg.stride, "size": cfg.size, "mean": cfg.mean, "std": cfg.std}
    for key in ("frames", "stride", "size"):
        if getattr(opts, key) is not None:
            geometry[key] = getattr(opts, key)
    return model, name, geometry, desc


def finetune(opts: FinetuneOptions | None = None, **kwargs: Any) -> dict[str, Any]:
    """Run (or resume) a fine-tuning run; returns the summary dict (also ``<out>/summary.json``)."""
    import dataclasses

    from levil_edge.config import ModelConfig
    from levil_edge.errors import UsageError
    from levil_edge.train import common
    from levil_edge.train.data import Source
    from levil_edge.train.loop import Trainer
    from levil_edge.train.tasks import FinetuneTask

    opts = opts or FinetuneOptions(**kwargs)
    if not 0 <= opts.unlabeled_fraction < 1:
        raise UsageError(f"--unlabeled-fraction must be in [0, 1) (got {opts.unlabeled_fraction})")
    if opts.pseudo_threshold is not None and not 0 <= opts.pseudo_threshold < 1:
        raise UsageError(f"--pseudo-threshold must be in [0, 1) (got {opts.pseudo_threshold})")
    classes = read_classes(opts.labels)
    dist, run = common.setup(opts)
    labeled, pool = labeled_pools(opts, classes, run.path if dist.is_main and not opts.resume else None)
    use_teacher = bool(opts.teacher) and not opts.no_teacher
    if use_teacher and pool and opts.unlabeled_fraction == 0:
        raise UsageError("--unlabeled-fraction 0 leaves the unlabeled clips out of every batch: raise it, "
                         "or drop --label-ratio / --labels-per-class / --unlabeled to distil on the labeled clips")
    # Fully labeled data (no unlabeled pool): the teacher's soft targets go to the labeled clips
    # instead, soft-CE beside CE as in plain knowledge distillation.
    on_labeled = use_teacher and not pool
    n_unl = round(opts.batch_size * opts.unlabeled_fraction) if use_teacher and not on_labeled else 0
    n_lab = opts.batch_size - n_unl
    if n_lab < 1:
        raise UsageError(f"--batch-size {opts.batch_size} leaves no labeled clip per batch: raise it or lower --unlabeled-fraction")
    table, views, info = None, 1, {}
    if on_labeled:  # before the student: the teacher's random draws must not change its init
        log.warning("finetune: no unlabeled clips, so the teacher's soft targets are applied to the %d labeled clips "
                    "(soft-CE beside CE)", len(labeled))
        table, labeled, views, info = _teacher_pool(opts, labeled, classes, dist, what="labeled")
    elif use_teacher:
        table, pool, views, info = _teacher_pool(opts, pool, classes, dist)
    common.seed_everything(opts.seed)
    model, student, geometry, init_desc = init_student(opts, len(classes))
    opts = dataclasses.replace(opts, student=student, **{k: geometry[k] for k in ("frames", "stride", "size")})
    norm = {k: geometry[k] for k in ("mean", "std") if k in geometry}
    with_pool = use_teacher and not on_labeled
    sources = [Source("labeled", labeled, n_lab)] + ([Source("unlabeled", pool, n_unl)] if with_pool else [])
    main_pool, main_per_batch = (len(pool), n_unl) if with_pool else (len(labeled), n_lab)
    loader = common.build_loader(sources, opts, dist, main_pool, main_per_batch, views, **norm)

    cfg = ModelConfig(student=student, num_classes=len(classes), labels=classes, label_kind="classes",
                      frames=opts.frames, stride=opts.stride, size=opts.size, **norm,
                      run=str(opts.out), extra={"init": init_desc, "teacher": info.get("teacher_id")})
    task = FinetuneTask(table.to(dist.device) if table is not None else None, opts.ce_weight, opts.soft_weight,
                        opts.pseudo_threshold, opts.pseudo_weight, soft_source=0 if on_labeled else 1)
    validate = _validator(opts, cfg, dist) if opts.val else None
    run_info = {"num_labeled": len(labeled), "num_unlabeled": len(pool) if with_pool else 0, "num_classes": len(classes),
                "teacher": info.get("teacher_id") if use_teacher else None, "init": init_desc, "student": student,
                "teacher_targets": ("labeled" if on_labeled else "unlabeled") if use_teacher else None}
    trainer = Trainer(model, task, loader, run, common.optim_config(opts), cfg, dist, validate=validate,
                      tensorboard=opts.tensorboard, run_info=run_info)
    result = trainer.fit(resume=opts.resume)
    if opts.val and result["best_epoch"] is not None:
        result["best_val_top1"] = result["best_metric"]
    result["bad_videos"] = sorted(set(result["bad_videos"]) | set(info.get("teacher_bad_videos", [])))
    return common.finish(result, run, dist)


def _teacher_pool(opts: FinetuneOptions, pool, classes, dist, what: str = "unlabeled"):
    """Zero-shot soft targets over the C classes (prompt ``opts.template``) for the unlabeled pool
    (or, on fully labeled data, for the labeled clips: ``what="labeled"``)."""
    from levil_edge.errors import DatasetError
    from levil_edge.teachers.prompts import humanize_label
    from levil_edge.train import common
    from levil_edge.train.target_table import TeacherSetup, load_target_table

    setup = TeacherSetup(opts.teacher, Path(opts.cache or Path(opts.out) / "teacher_cache"), opts.device,
                         opts.teacher_batch_size, opts.trust_remote_code, opts.decoder)
    texts = [humanize_label(c) for c in classes]  # "ApplyEyeMakeup" -> "apply eye makeup"
    table, valid, info = load_target_table(setup, pool, texts, opts.template, opts.tau, dist)
    pool, rows = common.keep_valid(pool, valid)
    if not pool:
        raise DatasetError(f"the teacher could decode none of the {what} videos: check the --unlabeled / --train videos")
    table.soft = table.soft[rows]
    return table, pool, info["views"], info


def _validator(opts: FinetuneOptions, cfg, dist):
    from levil_edge.data.specs import load_spec
    from levil_edge.errors import DatasetError
    from levil_edge.eval_report import build_report
    from levil_edge.train.eval_checkpoint import dataset_labels, predict_scores

    spec = load_spec(opts.val, root=opts.root)
    if not spec.items:
        raise DatasetError(f"--val {opts.val}: no videos found")
    y_all = dataset_labels(spec, cfg.labels)

    def validate(student) -> dict[str, Any]:
        scores, kept, bad = predict_scores(student, cfg, spec.items, opts.val_clips, opts.decoder,
                                           device=dist.device, description="validating")
        return build_report(scores, y_all[kept], cfg.labels, skipped_videos=bad)

    return validate
