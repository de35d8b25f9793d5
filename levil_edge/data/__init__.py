"""The video data layer: decoders, frame sampling, transforms, clips, dataset specs and subsets.

Torch-free: importing ``levil_edge.data`` (or any module here except ``dataset``) never imports
torch, because the edge runtime uses the same clip code. Import ``levil_edge.data.dataset`` for the
torch ``ClipDataset`` / ``collate_clips``.
"""

from __future__ import annotations

from levil_edge.data.decoders import DecodeError, VideoDecoder, VideoInfo, available_decoders, get_decoder

__all__ = ["DecodeError", "VideoDecoder", "VideoInfo", "available_decoders", "get_decoder"]
