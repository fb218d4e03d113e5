"""Camera frame -> input tensor, as the manifest's ``preprocessing`` says, and back for boxes.

One :class:`Preprocessor` per model: it knows the input size, layout and dtype,
keeps its buffers between frames (a resize target, a padded canvas, the
output tensor) and returns, with each tensor, the :class:`LetterboxTransform`
that maps boxes in input pixels back to frame pixels.

Steps, in the order they run:

1. resize with ``cv2.resize`` (INTER_LINEAR, as Ultralytics and most
   exporters train with; INTER_AREA is sharper when shrinking but ~10x slower):
   ``letterbox`` keeps the aspect ratio and centres the picture on a canvas of
   ``pad_value``; ``stretch`` fills the input;
2. colour order (frames are BGR, as OpenCV captures them);
3. ``(pixel - mean) / std`` per channel, in the channel order of the model, as
   one ``cv2.LUT`` pass over a 256-entry table per channel;
4. layout NHWC or NCHW, with the batch dimension;
5. dtype: float32/float16 take the normalised values; uint8/int8 take
   ``round((pixel - mean) / std)`` clipped to the type's range (mean 0, std 1
   is the raw-pixel case and skips the table).

The returned tensor is the preprocessor's own buffer, overwritten by the next
call: use it (run the model) before preprocessing the next frame.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from models.package import Preprocessing, TensorSpec


@dataclass(frozen=True, slots=True)
class LetterboxTransform:
    """Frame pixels <-> input-tensor pixels: ``input = frame * scale + pad``."""

    scale_x: float
    scale_y: float
    pad_x: float
    pad_y: float
    frame_w: int
    frame_h: int

    def to_frame(self, boxes: np.ndarray, *, clip: bool = True) -> np.ndarray:
        """``(N, 4)`` xyxy boxes in input pixels -> frame pixels (float32), clipped to the frame."""
        b = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        out = np.empty_like(b)
        out[:, 0::2] = (b[:, 0::2] - self.pad_x) / self.scale_x
        out[:, 1::2] = (b[:, 1::2] - self.pad_y) / self.scale_y
        if clip:
            np.clip(out[:, 0::2], 0, self.frame_w, out=out[:, 0::2])
            np.clip(out[:, 1::2], 0, self.frame_h, out=out[:, 1::2])
        return out

    def to_input(self, boxes: np.ndarray) -> np.ndarray:
        """The inverse: frame pixels -> input pixels."""
        b = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        out = np.empty_like(b)
        out[:, 0::2] = b[:, 0::2] * self.scale_x + self.pad_x
        out[:, 1::2] = b[:, 1::2] * self.scale_y + self.pad_y
        return out


def letterbox_geometry(frame_w: int, frame_h: int, in_w: int, in_h: int) -> tuple[int, int, int, int, float]:
    """``(new_w, new_h, pad_x, pad_y, scale)`` of an aspect-preserving fit, centred."""
    scale = min(in_w / frame_w, in_h / frame_h)
    new_w = min(in_w, max(1, round(frame_w * scale)))
    new_h = min(in_h, max(1, round(frame_h * scale)))
    return new_w, new_h, (in_w - new_w) // 2, (in_h - new_h) // 2, scale


def input_size(spec: TensorSpec, layout: str) -> tuple[int, int, int]:
    """``(width, height, channels)`` of an image input ``[1, H, W, C]`` or ``[1, C, H, W]``."""
    shape = spec.shape
    if len(shape) != 4:
        raise ValueError(f"input {spec.name!r}: expected a 4-D image tensor, got shape {shape}")
    _, a, b, c = shape
    h, w, ch = (a, b, c) if layout == "NHWC" else (b, c, a)
    if min(h, w, ch) <= 0:
        raise ValueError(f"input {spec.name!r}: shape {shape} has a dynamic image size; give the size explicitly")
    if ch not in (1, 3):
        raise ValueError(f"input {spec.name!r}: {ch} channels in layout {layout}; expected 1 or 3 (wrong layout?)")
    return w, h, ch


class Preprocessor:
    """Frames (BGR uint8, any size) -> the model's input tensor, with reusable buffers."""

    def __init__(self, spec: Preprocessing, input_spec: TensorSpec, *, interpolation: int = cv2.INTER_LINEAR) -> None:
        self.spec = spec
        self.input_spec = input_spec
        self.interpolation = interpolation
        self.width, self.height, self.channels = input_size(input_spec, spec.layout)
        self.dtype = np.dtype(input_spec.dtype)
        std = np.asarray(spec.std, np.float32)[: self.channels]
        mean = np.asarray(spec.mean, np.float32)[: self.channels]
        if np.any(std == 0):
            raise ValueError("preprocessing std has a zero")
        # frames are BGR; an RGB model gets its channels swapped first (cvtColor into a buffer)
        self._swap_rb = self.channels == 3 and spec.color == "RGB"
        # (pixel - mean) / std for every pixel value and channel: one table lookup per pixel
        values = (np.arange(256, dtype=np.float32)[:, None] - mean) / std
        if self.dtype.kind in "iu":
            info = np.iinfo(self.dtype)
            values = np.clip(np.rint(values), info.min, info.max)
        self._identity = self.dtype == np.uint8 and np.array_equal(values, np.repeat(np.arange(256.0)[:, None], self.channels, 1))
        lut_dtype = self.dtype if self.dtype in (np.float32, np.uint8, np.int8) else np.dtype(np.float32)
        self._lut = values.astype(lut_dtype).reshape(1, 256, self.channels)
        shape = (1, self.height, self.width, self.channels) if spec.layout == "NHWC" else (
            1, self.channels, self.height, self.width)
        self._out = np.empty(shape, self.dtype)
        # where the lookup writes: straight into the output when it is NHWC of a type cv2.LUT makes
        direct = spec.layout == "NHWC" and lut_dtype == self.dtype
        self._work = self._out[0] if direct else np.empty((self.height, self.width, self.channels), lut_dtype)
        self._rgb = np.empty((self.height, self.width, self.channels), np.uint8)
        self._canvas = np.full((self.height, self.width, self.channels), spec.pad_value, np.uint8)
        self._geometry: tuple[int, int] | None = None  # frame (w, h) the canvas padding was laid out for
        self._resized: np.ndarray | None = None
        self._transform: LetterboxTransform | None = None

    def __call__(self, frame: np.ndarray) -> tuple[np.ndarray, LetterboxTransform]:
        """The input tensor (this preprocessor's buffer) and the box transform back to ``frame``."""
        canvas, transform = self.resize(frame)
        return self.normalize(canvas), transform

    # -- steps, public so a benchmark can time them apart

    def resize(self, frame: np.ndarray) -> tuple[np.ndarray, LetterboxTransform]:
        """Resize/letterbox into the canvas (uint8, HWC, frame channel order)."""
        if frame.ndim == 2:
            frame = frame[:, :, None]
        if frame.ndim != 3 or frame.dtype != np.uint8:
            raise ValueError(f"expected an HxWxC uint8 frame, got {frame.dtype} {frame.shape}")
        if frame.shape[2] != self.channels:
            if self.channels == 1 and frame.shape[2] == 3:
                frame = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)[:, :, None]
            else:
                raise ValueError(f"frame has {frame.shape[2]} channels, the model takes {self.channels}")
        fh, fw = frame.shape[:2]
        if self._geometry != (fw, fh):
            self._layout(fw, fh)
        transform = self._transform
        assert transform is not None and self._resized is not None
        if self.spec.resize == "stretch":
            target = self._canvas
        else:
            target = self._resized
        th, tw = target.shape[:2]
        if (tw, th) == (fw, fh):
            np.copyto(target, frame)
        else:
            out = cv2.resize(frame, (tw, th), dst=target, interpolation=self.interpolation)
            if out.ndim == 2:  # cv2 drops a single channel axis
                target[:, :, 0] = out
            elif out is not target:
                np.copyto(target, out)
        if target is not self._canvas:
            x, y = int(transform.pad_x), int(transform.pad_y)
            self._canvas[y : y + th, x : x + tw] = target
        return self._canvas, transform

    def normalize(self, canvas: np.ndarray) -> np.ndarray:
        """Colour order, ``(x - mean) / std``, layout and dtype, into the output buffer."""
        src = cv2.cvtColor(canvas, cv2.COLOR_BGR2RGB, dst=self._rgb) if self._swap_rb else canvas
        if self._identity:
            hwc = src
        else:
            hwc = cv2.LUT(src, self._lut, dst=self._work)
            if hwc.ndim == 2:
                hwc = hwc[:, :, None]
        if self.spec.layout == "NCHW":
            np.copyto(self._out[0], hwc.transpose(2, 0, 1), casting="unsafe")
        elif hwc is not self._out[0] and not np.shares_memory(hwc, self._out):
            np.copyto(self._out[0], hwc, casting="unsafe")
        return self._out

    def _layout(self, fw: int, fh: int) -> None:
        if self.spec.resize == "stretch":
            self._transform = LetterboxTransform(self.width / fw, self.height / fh, 0.0, 0.0, fw, fh)
            self._resized = self._canvas
        else:
            new_w, new_h, pad_x, pad_y, _ = letterbox_geometry(fw, fh, self.width, self.height)
            # the exact scale per axis after rounding the resized size, so boxes map back exactly
            self._transform = LetterboxTransform(new_w / fw, new_h / fh, float(pad_x), float(pad_y), fw, fh)
            self._resized = np.empty((new_h, new_w, self.channels), np.uint8)
            self._canvas.fill(self.spec.pad_value)
        self._geometry = (fw, fh)
