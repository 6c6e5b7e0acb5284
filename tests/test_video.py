"""Tests of video decoding/encoding (motorflow.video): order, geometry, codecs, bad input."""

from __future__ import annotations

import inspect

import av
import numpy as np
import pytest

from motorflow import video as video_mod
from motorflow.video import VideoError, VideoWriter, iter_frames, probe

W, H, FPS, N = 160, 120, 25, 40
SQ = 16  # square side, px


def square_at(i: int) -> tuple[float, float]:
    """Expected centroid (x, y) of the square in frame ``i``: its position encodes ``i``."""
    return 8 + 3 * i + (SQ - 1) / 2, 10 + i + (SQ - 1) / 2


def make_frame(i: int) -> np.ndarray:
    f = np.full((H, W, 3), 30, np.uint8)
    x, y = 8 + 3 * i, 10 + i
    f[y : y + SQ, x : x + SQ] = (40, 60, 230)  # BGR: a red square
    return f


def centroid(frame: np.ndarray) -> tuple[float, float]:
    mask = frame.astype(int).sum(-1) > 200
    ys, xs = np.nonzero(mask)
    return float(xs.mean()), float(ys.mean())


def check_frames(frames: list[np.ndarray]) -> None:
    assert len(frames) == N
    for i, fr in enumerate(frames):
        assert fr.shape == (H, W, 3) and fr.dtype == np.uint8
        cx, cy = centroid(fr)
        ex, ey = square_at(i)
        assert abs(cx - ex) <= 2 and abs(cy - ey) <= 2, (i, (cx, cy), (ex, ey))


@pytest.fixture(scope="module")
def h264_clip(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("h264") / "clip.mp4"
    with VideoWriter(path, W, H, FPS) as vw:
        for i in range(N):
            vw.write(make_frame(i))
    return str(path)


def write_pyav(path, codec: str, fmt: str | None = None, n: int = N, options=None) -> None:
    c = av.open(str(path), "w", format=fmt, options=options or {})
    s = c.add_stream(codec, rate=FPS)
    s.width, s.height, s.pix_fmt = W, H, "yuv420p"
    for i in range(n):
        for p in s.encode(av.VideoFrame.from_ndarray(make_frame(i), format="bgr24")):
            c.mux(p)
    for p in s.encode():
        c.mux(p)
    c.close()


# ------------------------------------------------------------------------------ good input


def test_h264_round_trip_order_and_position(h264_clip):
    check_frames(list(iter_frames(h264_clip)))


def test_rgb_order(h264_clip):
    bgr = next(iter_frames(h264_clip))
    rgb = next(iter_frames(h264_clip, rgb=True))
    np.testing.assert_array_equal(rgb, bgr[..., ::-1])
    cx, cy = square_at(0)
    px = bgr[int(cy), int(cx)].astype(int)
    assert px[2] > 180 and px[0] < 100  # red square is red in BGR order


def test_probe(h264_clip):
    info = probe(h264_clip)
    assert (info.width, info.height) == (W, H)
    assert info.fps == pytest.approx(FPS)
    assert info.n_frames == N
    assert info.codec == "h264"
    assert info.duration_s == pytest.approx(N / FPS, abs=0.05)
    assert info.path == h264_clip


@pytest.mark.parametrize(
    ("name", "fmt"), [("clip.webm", "webm"), ("clip.mp4", "mp4"), ("clip.mkv", "matroska")]
)
def test_vp9_decodes(tmp_path, name, fmt):
    path = tmp_path / name
    write_pyav(path, "libvpx-vp9", fmt)
    info = probe(path)
    assert info.codec == "vp9"
    assert (info.width, info.height) == (W, H)
    assert info.fps == pytest.approx(FPS)
    check_frames(list(iter_frames(path)))


class _CountingContainer:
    """Proxy of an input container that counts the frames its decode() produced."""

    def __init__(self, inner):
        self._inner = inner
        self.decoded = 0
        self.closed = False

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.closed = True
        self._inner.close()

    def decode(self, *args, **kwargs):
        for frame in self._inner.decode(*args, **kwargs):
            self.decoded += 1
            yield frame


def test_iter_frames_streams(h264_clip, monkeypatch):
    opened = []
    real_open = av.open

    def counting_open(*args, **kwargs):
        opened.append(_CountingContainer(real_open(*args, **kwargs)))
        return opened[-1]

    monkeypatch.setattr(video_mod.av, "open", counting_open)
    gen = iter_frames(h264_clip)
    assert inspect.isgenerator(gen)
    assert opened == []  # nothing opened before the first frame is asked for
    first = next(gen)
    assert len(opened) == 1
    assert opened[0].decoded == 1  # only the frame handed out was decoded
    cx, cy = centroid(first)
    assert abs(cx - square_at(0)[0]) <= 2
    next(gen)
    assert opened[0].decoded == 2
    gen.close()  # abandoning the generator closes the file
    assert opened[0].closed


# ------------------------------------------------------------------------------ writer


def test_writer_exception_leaves_nothing(tmp_path):
    out = tmp_path / "out.mp4"
    with pytest.raises(RuntimeError, match="mid-way"):
        with VideoWriter(out, W, H, FPS) as vw:
            for i in range(10):
                vw.write(make_frame(i))
            raise RuntimeError("mid-way")
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_writer_exception_keeps_previous_video(tmp_path, h264_clip):
    out = tmp_path / "out.mp4"
    out.write_bytes(open(h264_clip, "rb").read())
    with pytest.raises(RuntimeError):
        with VideoWriter(out, W, H, FPS) as vw:
            vw.write(make_frame(0))
            raise RuntimeError("mid-way")
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]
    assert probe(out).n_frames == N


def test_writer_non_integer_fps(tmp_path):
    out = tmp_path / "ntsc.mp4"
    with VideoWriter(out, W, H, 30000 / 1001) as vw:
        for i in range(N):
            vw.write(make_frame(i))
    assert probe(out).fps == pytest.approx(29.97, abs=0.01)
    assert sum(1 for _ in iter_frames(out)) == N


# ------------------------------------------------------------------------------ bad input


def _assert_video_error(path, *reasons: str) -> None:
    """Both probe and iter_frames refuse ``path`` with a message naming it and a reason."""
    with pytest.raises(VideoError) as exc:
        list(iter_frames(path))
    msg = str(exc.value)
    assert str(path) in msg
    assert any(r in msg for r in reasons), msg


def test_missing_file(tmp_path):
    path = tmp_path / "nope.mp4"
    _assert_video_error(path, "not found")
    with pytest.raises(VideoError, match="nope.mp4.*not found"):
        probe(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    _assert_video_error(path, "empty")
    with pytest.raises(VideoError, match="empty.mp4.*empty"):
        probe(path)


def test_text_file_renamed(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("subject 12, walked twice, second take is better\n" * 20)
    _assert_video_error(path, "not a readable video", "no decodable", "no video stream")
    with pytest.raises(VideoError, match="notes.mp4"):
        probe(path)


def test_random_bytes(tmp_path):
    path = tmp_path / "noise.mp4"
    path.write_bytes(np.random.default_rng(1).integers(0, 256, 50_000, np.uint8).tobytes())
    _assert_video_error(path, "not a readable video", "no decodable", "no video stream")


def test_truncated_mp4_moov_at_end(tmp_path, h264_clip):
    """VideoWriter's mp4 keeps the index (moov) at the end: a cut loses all or part of it.

    Every cut must give VideoError from iter_frames; probe (header only) may succeed where
    the index survived but must never fail with anything but VideoError (a cut inside the
    moov atom used to leave a stream without codec context → AttributeError).
    """
    data = open(h264_clip, "rb").read()
    path = tmp_path / "cut.mp4"
    for pct in range(2, 97, 2):
        path.write_bytes(data[: len(data) * pct // 100])
        _assert_video_error(path, "not a readable video", "corrupt", "truncated", "decoding")
        try:
            info = probe(path)
        except VideoError as err:
            assert "cut.mp4" in str(err)
        else:
            assert (info.width, info.height) == (W, H)
    path.write_bytes(data[: int(len(data) * 0.3)])
    with pytest.raises(VideoError, match="cut.mp4"):
        probe(path)


def _noisy_clip(path, fmt: str, codec: str, options=None) -> None:
    """A clip whose size is dominated by frame data (noise), so a cut loses frames."""
    rng = np.random.default_rng(0)
    c = av.open(str(path), "w", format=fmt, options=options or {})
    s = c.add_stream(codec, rate=FPS)
    s.width, s.height, s.pix_fmt = W, H, "yuv420p"
    for _ in range(N):
        img = rng.integers(0, 256, (H, W, 3), np.uint8)
        for p in s.encode(av.VideoFrame.from_ndarray(img, format="bgr24")):
            c.mux(p)
    for p in s.encode():
        c.mux(p)
    c.close()


@pytest.mark.parametrize(
    ("name", "fmt", "codec", "options"),
    [
        ("fast.mp4", "mp4", "libx264", {"movflags": "faststart"}),  # index first, data cut
        ("clip.webm", "webm", "libvpx-vp9", None),  # no frame count: duration says
    ],
)
def test_truncated_data_raises(tmp_path, name, fmt, codec, options):
    full = tmp_path / name
    _noisy_clip(full, fmt, codec, options)
    assert sum(1 for _ in iter_frames(full)) == N  # the intact file is fine
    data = full.read_bytes()
    for frac in (0.3, 0.6):
        path = tmp_path / f"cut{int(frac * 100)}_{name}"
        path.write_bytes(data[: int(len(data) * frac)])
        _assert_video_error(path, "truncated", "decoding failed", "no decodable")


def test_truncated_stream_yields_frames_before_error(tmp_path):
    """Frames before the damage are handed out; the error comes at the end, not silence."""
    full = tmp_path / "fast.mp4"
    _noisy_clip(full, "mp4", "libx264", {"movflags": "faststart"})
    data = full.read_bytes()
    path = tmp_path / "cut.mp4"
    path.write_bytes(data[: len(data) // 2])
    got = 0
    with pytest.raises(VideoError, match="cut.mp4"):
        for _ in iter_frames(path):
            got += 1
    assert 0 < got < N
