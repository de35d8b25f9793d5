"""One distill run under torchrun, started by tests/test_train_ddp.py (not a module entry point of
levil-edge, so the test does not depend on one). Each rank records whether the trainer really
wrapped the student in DistributedDataParallel, the clips and target rows of its batches, and its
final parameters: ``REPORT/rank<r>.json`` and ``REPORT/rank<r>.safetensors``.

    python -m torch.distributed.run --standalone --nproc_per_node 2 tests/ddp_worker.py OPTIONS.json REPORT/
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def main(options: Path, report: Path) -> None:
    from safetensors.torch import save_file

    from levil_edge.train import DistillOptions, distill
    from levil_edge.train.loop import Trainer

    rank = int(os.environ.get("RANK", "0"))
    seen: dict = {"module": None, "clips": [], "rows": []}
    real_step, real_finish = Trainer.train_step, Trainer._finish

    def recording_step(self, batch, *args):
        clips = args[0] if args else len(batch["video"])
        seen["module"] = type(self.module).__name__
        seen["clips"].append(clips)
        seen["rows"].append(batch["row"].tolist() if clips else [])
        return real_step(self, batch, *args)

    def finishing(self):
        # Parameters only: BatchNorm running statistics are each rank's own after its last forward
        # (DDP broadcasts rank 0's at the start of the next one).
        state = {k: v.detach().cpu().contiguous() for k, v in self.student.named_parameters()}
        save_file(state, str(report / f"rank{rank}.safetensors"))
        real_finish(self)

    Trainer.train_step, Trainer._finish = recording_step, finishing
    result = distill(DistillOptions(**json.loads(options.read_text())))
    seen.update(steps=result["steps"], world_size=result["world_size"], bad_videos=result["bad_videos"])
    (report / f"rank{rank}.json").write_text(json.dumps(seen))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
