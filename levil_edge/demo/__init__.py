"""The built-in demo: ``run_demo(DemoOptions(...))`` runs the whole pipeline on generated data
(``levil-edge demo``). The shipped demo teacher is trained by ``tools/train_demo_teacher.py``."""

from levil_edge.demo.pipeline import FULL, QUICK, DemoOptions, Scale, run_demo

__all__ = ["FULL", "QUICK", "DemoOptions", "Scale", "run_demo"]
