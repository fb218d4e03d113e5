"""Frame -> tensor: letterbox geometry that maps boxes back exactly, colour, normalisation, layout, dtype."""
from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from edge_runtime.vision.preprocess import LetterboxTransform, Preprocessor, letterbox_geometry
from models.package import Preprocessing, TensorSpec


def _pre(size=(192, 192), layout="NHWC", dtype="float32", channels=3, **pp) -> Preprocessor:
    w, h = size
    shape = (1, h, w, channels) if layout == "NHWC" else (1, channels, h, w)
    return Preprocessor(Preprocessing(layout=layout, **pp), TensorSpec(name="x", shape=shape, dtype=dtype))


def _white_box_frame(w=640, h=480, box=(100, 120, 300, 360)) -> np.ndarray:
    frame = np.zeros((h, w, 3), np.uint8)
    x1, y1, x2, y2 = box
    frame[y1:y2, x1:x2] = 255
    return frame


def test_letterbox_geometry_vga_to_square():
    assert letterbox_geometry(640, 480, 192, 192) == (192, 144, 0, 24, 0.3)
    assert letterbox_geometry(480, 640, 192, 192) == (144, 192, 24, 0, 0.3)
    assert letterbox_geometry(192, 192, 192, 192) == (192, 192, 0, 0, 1.0)


def test_letterbox_places_the_picture_where_the_transform_says():
    pre = _pre(std=(1.0, 1.0, 1.0), dtype="uint8", pad_value=114)
    frame = _white_box_frame()
    tensor, tf = pre(frame)
    assert (tf.scale_x, tf.scale_y, tf.pad_x, tf.pad_y) == (0.3, 0.3, 0.0, 24.0)
    img = tensor[0]
    assert np.all(img[:24] == 114) and np.all(img[24 + 144 :] == 114)  # pad rows, top and bottom
    assert np.all(img[24:168] != 114) or img[24:168].min() == 0  # picture rows
    # the white box (100,120)-(300,360) lands at (30,60)-(90,132) in input pixels
    expected = tf.to_input(np.array([[100, 120, 300, 360]]))[0]
    np.testing.assert_allclose(expected, [30, 60, 90, 132])
    ys, xs = np.nonzero(img[:, :, 0] > 127)
    assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == (30, 60, 90, 132)


def test_boxes_map_back_exactly():
    pre = _pre(size=(320, 256))
    for fw, fh in ((640, 480), (1920, 1080), (300, 700), (320, 256), (37, 1000)):
        _, tf = pre(np.zeros((fh, fw, 3), np.uint8))
        frame_boxes = np.array([[0, 0, fw, fh], [fw * 0.25, fh * 0.1, fw * 0.5, fh * 0.9], [1, 2, 3, 4]], np.float32)
        back = tf.to_frame(tf.to_input(frame_boxes))
        np.testing.assert_allclose(back, frame_boxes, rtol=1e-5, atol=1e-3)
        # the whole input maps to a box covering the whole frame (padding clipped away)
        np.testing.assert_allclose(tf.to_frame(np.array([[0, 0, 320, 256]])), [[0, 0, fw, fh]], atol=1e-3)


def test_detected_box_maps_back_to_the_drawn_box():
    """End to end through the pixels: find the box in the tensor, map it back, get the drawn box."""
    drawn = (100, 120, 300, 360)
    tensor, tf = _pre()(_white_box_frame(box=drawn))
    ys, xs = np.nonzero(tensor[0, :, :, 0] > 0.5)
    found = np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]])
    assert tf.to_frame(found)[0].tolist() == pytest.approx(drawn, abs=1e-3)


def test_stretch_fills_the_input():
    pre = _pre(resize="stretch", std=(1.0, 1.0, 1.0), dtype="uint8")
    tensor, tf = pre(_white_box_frame())
    assert (tf.scale_x, tf.scale_y, tf.pad_x, tf.pad_y) == (0.3, 0.4, 0.0, 0.0)
    assert tf.to_input(np.array([[100, 120, 300, 360]]))[0].tolist() == pytest.approx([30, 48, 90, 144])
    assert tensor[0, 0, 0, 0] == 0  # no padding


def test_colour_order():
    blue_bgr = np.zeros((48, 64, 3), np.uint8)
    blue_bgr[:, :, 0] = 255
    rgb = _pre(color="RGB")(blue_bgr)[0][0, 96, 96]
    bgr = _pre(color="BGR")(blue_bgr)[0][0, 96, 96]
    assert rgb.tolist() == [0.0, 0.0, 1.0]
    assert bgr.tolist() == [1.0, 0.0, 0.0]


def test_mean_std_normalisation_per_channel():
    frame = np.zeros((48, 64, 3), np.uint8)
    frame[:] = (10, 20, 30)  # B, G, R
    mean, std = (123.675, 116.28, 103.53), (58.395, 57.12, 57.375)
    px = _pre(mean=mean, std=std)(frame)[0][0, 96, 96]
    expected = (np.array([30, 20, 10]) - np.array(mean)) / np.array(std)  # model channels are R, G, B
    np.testing.assert_allclose(px, expected, rtol=1e-6)


def test_nchw_is_nhwc_transposed():
    frame = np.random.RandomState(0).randint(0, 256, (480, 640, 3), np.uint8)
    nhwc = _pre(layout="NHWC")(frame)[0].copy()
    nchw = _pre(layout="NCHW")(frame)[0]
    assert nchw.shape == (1, 3, 192, 192)
    np.testing.assert_array_equal(nchw[0], nhwc[0].transpose(2, 0, 1))


def test_integer_dtypes():
    frame = np.random.RandomState(1).randint(0, 256, (192, 192, 3), np.uint8)
    raw = _pre(dtype="uint8", std=(1.0, 1.0, 1.0), color="BGR")(frame)[0]
    assert raw.dtype == np.uint8
    np.testing.assert_array_equal(raw[0], frame)  # same size: no resize, raw pixels
    signed = _pre(dtype="int8", mean=(128.0,) * 3, std=(1.0,) * 3, color="BGR")(frame)[0]
    assert signed.dtype == np.int8
    np.testing.assert_array_equal(signed[0].astype(int), frame.astype(int) - 128)


def test_float16_and_grayscale():
    frame = np.full((100, 100, 3), 51, np.uint8)
    half = _pre(dtype="float16")(frame)[0]
    assert half.dtype == np.float16 and half[0, 100, 100, 0] == pytest.approx(0.2, abs=1e-3)
    gray = _pre(channels=1)(frame)[0]
    assert gray.shape == (1, 192, 192, 1) and gray[0, 100, 100, 0] == pytest.approx(0.2, abs=1e-6)


def test_buffers_are_reused_and_relaid_when_the_frame_size_changes():
    pre = _pre(pad_value=0, std=(1.0,) * 3, dtype="uint8")
    wide = np.full((100, 400, 3), 200, np.uint8)
    tall = np.full((400, 100, 3), 200, np.uint8)
    a, tf_wide = pre(wide)
    b, tf_tall = pre(tall)
    assert a is b  # the preprocessor's own buffer
    assert tf_wide.pad_y > 0 and tf_tall.pad_x > 0
    # the old letterbox content does not leak into the new padding
    assert b[0, 0, 0].tolist() == [0, 0, 0] and b[0, 96, 96].tolist() == [200, 200, 200]


def test_rejects_what_it_cannot_read():
    with pytest.raises(ValueError, match="uint8 frame"):
        _pre()(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(ValueError, match="dynamic image size"):
        Preprocessor(Preprocessing(), TensorSpec(name="x", shape=(1, -1, -1, 3), dtype="float32"))
    with pytest.raises(ValueError, match="channels in layout NHWC"):
        Preprocessor(Preprocessing(layout="NHWC"), TensorSpec(name="x", shape=(1, 3, 64, 64), dtype="float32"))


def test_transform_clips_to_the_frame():
    tf = LetterboxTransform(0.3, 0.3, 0.0, 24.0, 640, 480)
    assert tf.to_frame(np.array([[-5, 0, 200, 192]]))[0].tolist() == [0, 0, 640, 480]


def test_vga_to_192_is_fast():
    pre = _pre()
    frame = np.random.RandomState(2).randint(0, 256, (480, 640, 3), np.uint8)
    for _ in range(10):
        pre(frame)
    n = 200
    t = time.perf_counter()
    for _ in range(n):
        pre(frame)
    ms = (time.perf_counter() - t) / n * 1e3
    print(f"preprocess VGA -> 192x192 float32 NHWC: {ms:.3f} ms")
    assert ms < 5.0, f"{ms:.2f} ms per frame"


def test_matches_a_plain_reference_implementation():
    frame = np.random.RandomState(3).randint(0, 256, (480, 640, 3), np.uint8)
    pre = _pre(size=(160, 128), mean=(1.0, 2.0, 3.0), std=(50.0, 60.0, 70.0), pad_value=114)
    tensor, _ = pre(frame)
    new_w, new_h, px, py, _ = letterbox_geometry(640, 480, 160, 128)
    canvas = np.full((128, 160, 3), 114, np.uint8)
    canvas[py : py + new_h, px : px + new_w] = cv2.resize(frame, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    ref = (canvas[:, :, ::-1].astype(np.float32) - np.array([1, 2, 3], np.float32)) / np.array([50, 60, 70], np.float32)
    np.testing.assert_allclose(tensor[0], ref, rtol=1e-6, atol=1e-6)
