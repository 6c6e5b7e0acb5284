"""Tests of video decoding/encoding (motorflow.video): order, geometry, codecs, bad input."""

from __future__ import annotations

import hashlib
import inspect
import os
import subprocess
import sys
import time

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


# ------------------------------------------------------------------------------ reproducible bytes

# A tiny cohort: one 336x192 video of 1.5 strides (about 30 frames at 15 fps).
TINY_COHORT = """\
synthetic:
  seed: 7
  subjects_per_level: 1
  videos_per_subject: 1
  fps: 15.0
  width: 336
  height: 192
  strides: 1.5
  p_second_person: 0.0
  p_oblique: 0.0
  p_portrait: 0.0
"""

# Parallel load: encodes noisy frames with VideoWriter until killed (at most 5 min).
LOAD_SCRIPT = """\
import sys, time
import numpy as np
from motorflow.video import VideoWriter
rng, end = np.random.default_rng(), time.monotonic() + 300
while time.monotonic() < end:
    with VideoWriter(sys.argv[1], 320, 240, 25.0) as vw:
        for _ in range(40):
            vw.write(rng.integers(0, 256, (240, 320, 3), np.uint8))
"""


def _sha256(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


# Encodes fixed frames with VideoWriter and prints the file's sha256; argv: out, mode
# ("fallback": as where x264's CPU flags cannot be read).
ENCODE_SCRIPT = """\
import hashlib, sys
import numpy as np
from motorflow import video
if sys.argv[2] == "fallback":
    video._x264_asm_flags = lambda: None
rng = np.random.default_rng(5)
base = rng.integers(0, 256, (240, 320, 3), np.uint8)
with video.VideoWriter(sys.argv[1], 320, 240, 25.0) as vw:
    for i in range(40):
        frame = np.roll(base, 4 * i, axis=1) // 2
        frame[60:120, 5 * i : 5 * i + 40] = (40, 60, 230)
        vw.write(frame)
print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())
"""


@pytest.mark.parametrize("mode", ["asm", "fallback"])
def test_writer_bytes_independent_of_heap_contents(tmp_path, mode):
    """Same frames, same bytes, whatever fresh heap memory holds (glibc's MALLOC_PERTURB_).

    With x264's AVX-512 code, MB-tree and B-frames, the bytes depended on it (an uninitialised
    read): the cause of the differing re-renders. Checks both VideoWriter settings.
    """
    digests = set()
    for k, perturb in enumerate(("", "85", "170")):
        env = {**os.environ, "MALLOC_PERTURB_": perturb}
        out = subprocess.run(
            [sys.executable, "-c", ENCODE_SCRIPT, str(tmp_path / f"{k}.mp4"), mode],
            env=env, capture_output=True, text=True, timeout=120, check=True,
        )  # fmt: skip
        digests.add(out.stdout.strip())
    assert len(digests) == 1, digests


def test_writer_x264_settings_applied(h264_clip):
    """PyAV passes VideoWriter's options to x264: its SEI in the file lists them."""
    data = open(h264_clip, "rb").read()
    sei = data[data.index(b"x264 - core") :].split(b"\x00", 1)[0].decode()
    for opt in ("threads=1", "lookahead_threads=1", "sliced_threads=0", "crf=20.0"):
        assert f" {opt} " in sei, sei
    assert video_mod.x264_params().startswith("threads=1:lookahead-threads=1:sliced-threads=0")
    if video_mod._x264_asm_flags() is not None:
        assert not video_mod._x264_asm_flags() & video_mod.X264_CPU_AVX512


def test_synth_video_byte_identical_across_processes_under_load(tmp_path):
    """One cohort video rendered by two separate ``motorflow synth`` processes, at the same
    time and next to two other encodes, gives byte-identical mp4 files.

    The second render runs with glibc's MALLOC_PERTURB_, so fresh heap memory holds other
    bytes than in the first: an encoder that reads memory nobody wrote (x264's AVX-512 code,
    the cause of the differing re-renders) gives a different file, not only by chance.
    """
    cfg = tmp_path / "cohort.yaml"
    cfg.write_text(TINY_COHORT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("MALLOC_PERTURB_", None)
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    load_cmd = [sys.executable, "-c", LOAD_SCRIPT]
    load = [subprocess.Popen([*load_cmd, str(tmp_path / f"l{k}.mp4")], env=env, **quiet)
            for k in range(2)]  # fmt: skip
    try:
        time.sleep(1.0)  # the load is encoding before the renders start
        renders = []
        for k, perturb in enumerate((None, "85")):
            run_env = dict(env) if perturb is None else {**env, "MALLOC_PERTURB_": perturb}
            cmd = [sys.executable, "-m", "motorflow.cli", "synth", "--config", str(cfg),
                   "--out", str(tmp_path / f"run{k}"), "--video-id", "synI01_v1"]  # fmt: skip
            renders.append(
                subprocess.Popen(cmd, env=run_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            )
        for r in renders:
            out, err = r.communicate(timeout=240)
            assert r.returncode == 0, err.decode()[-2000:]
        assert all(p.poll() is None for p in load), "a load encode died: no parallel load"
    finally:
        for p in load:
            p.kill()
            p.wait()
    a, b = (tmp_path / f"run{k}" / "videos" / "synI01_v1.mp4" for k in range(2))
    if _sha256(a) != _sha256(b):
        fa, fb = list(iter_frames(a)), list(iter_frames(b))
        diff = max(int(np.abs(x.astype(int) - y).max()) for x, y in zip(fa, fb, strict=True))
        pytest.fail(f"re-render differs byte-wise: {len(fa)} frames, decoded max diff {diff}")
    assert probe(a).n_frames > 10


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


def _phone_clip(path, rotation: int, width: int = 64, height: int = 32) -> np.ndarray:
    """A clip stored as landscape pixels with a display rotation, as phones film portrait.
    Returns the stored (un-rotated) frame: white square at the top-left, grey bar right."""
    img = np.zeros((height, width, 3), np.uint8)
    img[:8, :8] = 255
    img[:, -6:] = 128
    with av.open(str(path), "w", format="mp4") as c:
        s = c.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt = width, height, "yuv420p"
        s.options = {"crf": "0"}
        s.set_display_rotation(rotation)
        for _ in range(3):
            for packet in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(packet)
        for packet in s.encode():
            c.mux(packet)
    return img


@pytest.mark.parametrize("rotation", [0, 90, -90, 180])
def test_display_rotation_turns_frames_upright(tmp_path, rotation):
    # A portrait phone video (rotation -90: the player turns it 90 degrees clockwise) must
    # reach pose estimation upright; unturned, MediaPipe sees a person lying down.
    path = tmp_path / f"phone{rotation}.mp4"
    stored = _phone_clip(path, rotation)
    frames = list(iter_frames(path, rgb=True))
    expected = np.rot90(stored, k=rotation // 90)
    assert frames[0].shape == expected.shape
    assert np.abs(frames[0].astype(int) - expected).max() < 40
    info = probe(path)
    assert info.rotation == rotation
    assert (info.width, info.height) == (expected.shape[1], expected.shape[0])
    if rotation == -90:  # turned clockwise: the stored top-left corner is now top-right
        assert frames[0][:6, -6:].mean() > 200 and frames[0][:6, :6].mean() < 60
