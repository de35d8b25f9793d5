"""What each demo stage does and why: printed as the demo runs and copied into its report."""

from __future__ import annotations

STAGES: dict[str, tuple[str, str]] = {
    "generate": (
        "1. Generate the data",
        "A synthetic action dataset stands in for your videos: each clip shows a shape moving left/right/up/down, "
        "rotating one way or the other, growing, shrinking, blinking or bouncing, with distractor shapes, textured "
        "backgrounds and sensor noise. One frame never tells the class: direction, rotation sense and growth only "
        "show across frames, so the student must model time. We write an unlabeled pool (what you would scrape) and a "
        "target set with train/test splits (what you care about).",
    ),
    "captions": (
        "2. Caption the unlabeled pool",
        "LEViL asks a video VLM to describe every unlabeled clip. Here the generator's template captions stand in "
        "for the VLM so the demo needs no download; pass --captioner MODEL to run a real one "
        "(levil_edge.captioning) instead.",
    ),
    "vocab": (
        "3. Build the pseudo-label vocabulary",
        "Verbs, their direct objects and verb-object pairs are parsed from the captions (spaCy) and filtered by "
        "document frequency. No human label is used: these words become the classes the student first learns.",
    ),
    "teacher": (
        "4. The frozen teacher, zero-shot",
        "A small X-CLIP video-language model (transformers' XCLIPModel) trained contrastively on generated clips "
        "and captions ships with levil-edge, so nothing is downloaded. Its zero-shot top-1 on the target test split "
        "(class names as prompts, no training on the target labels) is the bar the label-efficient student should "
        "approach while being far cheaper to run.",
    ),
    "distill": (
        "5. Distill, then fine-tune with 5% labels",
        "Zero-shot distillation: the student learns the teacher's soft distribution over the pseudo-labels on the "
        "unlabeled pool. Then target-label-set-aware fine-tuning: cross-entropy on the few labeled clips plus the "
        "teacher's zero-shot distribution over the target classes on the rest of the target train split.",
    ),
    "scratch": (
        "6. Baseline: the same student from scratch",
        "The same architecture trained on the same 5% labels only, for the same number of optimizer steps and the "
        "same batch size as the fine-tuning stage. The gap to stage 5 is what the teacher and the unlabeled videos "
        "buy you.",
    ),
    "export": (
        "7. Export to ONNX and INT8, benchmark",
        "The distilled student goes to ONNX (FP32) and to INT8 Q/DQ ONNX calibrated on real target clips, the form "
        "TensorRT builds on a Jetson. ONNX Runtime measures accuracy on the test split and latency on this CPU. "
        "(On a CPU, INT8 pays off for larger students, e.g. 2.5x for R3D-18; for a student this small ONNX Runtime's "
        "quantize/dequantize overhead outweighs the cheaper convolutions, and INT8 can be slower than FP32.)",
    ),
}


def flip_note() -> str:
    return (
        "This install's training cannot switch off horizontal-flip augmentation, which turns 'move left' into "
        "'move right' and clockwise into counter-clockwise, so the demo leaves those four classes out."
    )
