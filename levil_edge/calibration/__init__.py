"""INT8 calibration: real clips in (``reader``), ranges JSON out (``ranges``). Torch-free."""

from levil_edge.calibration.ranges import load_ranges, save_ranges

__all__ = ["load_ranges", "save_ranges"]
