"""Video decoding (streamed, constant memory) and encoding, with errors that name the file.

PyAV (FFmpeg) decodes H.264, VP9, HEVC and the rest of FFmpeg's codecs; frames are yielded
one at a time so memory does not grow with video length.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import platform
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from motorflow.poseio import atomic_path


class VideoError(ValueError):
    """A video that cannot be used; the message names the file and the reason."""


@dataclass(frozen=True)
class VideoInfo:
    path: str
    width: int  # as displayed: after the rotation below, like every frame iter_frames yields
    height: int
    fps: float
    n_frames: int  # container's count (0 when unknown): an estimate, not a promise
    codec: str
    duration_s: float
    # Counter-clockwise display rotation from the stream's display matrix (phones film
    # portrait as landscape pixels plus this), in degrees: 0, 90, 180 or -90.
    rotation: int = 0


def _rotation(path, frame: av.VideoFrame) -> int:
    """The display rotation of a decoded frame, a multiple of 90 degrees, or VideoError."""
    degrees = int(round(frame.rotation or 0))
    quarter = round(degrees / 90)
    if abs(degrees - 90 * quarter) > 1:
        raise VideoError(
            f"{path}: display rotation of {degrees} degrees (only multiples of 90 are "
            "supported: rotate the video, e.g. ffmpeg -i IN -vf rotate=..., OUT)"
        )
    turn = (90 * quarter) % 360
    return turn - 360 if turn > 180 else turn  # -90, 0, 90 or 180


def _upright(image: np.ndarray, rotation: int) -> np.ndarray:
    """The frame as a player shows it (np.rot90 turns counter-clockwise, as the matrix)."""
    return np.ascontiguousarray(np.rot90(image, k=rotation // 90)) if rotation else image


def _open(path: str | os.PathLike) -> av.container.InputContainer:
    p = Path(path)
    if not p.exists():
        raise VideoError(f"{p}: file not found")
    if p.stat().st_size == 0:
        raise VideoError(f"{p}: empty file (0 bytes)")
    try:
        container = av.open(str(p))
    except (av.error.FFmpegError, UnicodeDecodeError) as err:
        raise VideoError(f"{p}: not a readable video ({err.__class__.__name__}: {err})") from err
    if not container.streams.video:
        container.close()
        raise VideoError(f"{p}: contains no video stream")
    if container.streams.video[0].codec_context is None:
        # A damaged header (e.g. a truncated moov atom) or a codec FFmpeg cannot decode.
        container.close()
        raise VideoError(f"{p}: video stream without a usable decoder (corrupt header?)")
    return container


def probe(path: str | os.PathLike) -> VideoInfo:
    with _open(path) as c:
        s = c.streams.video[0]
        rate = s.average_rate or s.guessed_rate or s.base_rate
        fps = float(rate) if rate else float("nan")
        dur = (
            float(s.duration * s.time_base)
            if s.duration
            else (c.duration / av.time_base if c.duration else float("nan"))
        )
        # The display matrix is side data of the decoded frames: read it off the first one.
        try:
            rotation = _rotation(path, next(c.decode(s)))
        except (StopIteration, av.error.FFmpegError):
            rotation = 0  # nothing decodes: iter_frames reports that with its reason
        width, height = int(s.codec_context.width), int(s.codec_context.height)
        if rotation in (90, -90):
            width, height = height, width
        return VideoInfo(
            path=str(path),
            width=width,
            height=height,
            fps=fps,
            n_frames=int(s.frames or 0),
            codec=s.codec_context.name,
            duration_s=dur,
            rotation=rotation,
        )


def iter_frames(
    path: str | os.PathLike, rgb: bool = False, times: list | None = None
) -> Iterator[np.ndarray]:
    """Yield decoded frames (H, W, 3) uint8, BGR by default (OpenCV's order), upright: a
    stream's display rotation (phone videos) is applied, as a player does.

    A stream that breaks off mid-way (truncated or corrupt file) raises VideoError after the
    frames that did decode, so callers never mistake a damaged file for a short one.
    ``times``: a list that receives each frame's presentation time (s; None where the stream
    has none), so that callers can find dropped frames.
    """
    fmt = "rgb24" if rgb else "bgr24"
    with _open(path) as c:
        stream = c.streams.video[0]
        stream.thread_type = "AUTO"
        n = 0
        first_t = last_t = None
        try:
            for frame in c.decode(stream):
                n += 1
                if times is not None:
                    times.append(frame.time)
                if frame.time is not None:
                    first_t = frame.time if first_t is None else first_t
                    last_t = frame.time
                yield _upright(frame.to_ndarray(format=fmt), _rotation(path, frame))
        except av.error.FFmpegError as err:
            raise VideoError(f"{path}: decoding failed after {n} frames ({err})") from err
        if n == 0:
            raise VideoError(f"{path}: no decodable frames (corrupt or truncated)")
        expected = int(stream.frames or 0)
        # Containers that state a frame count let us detect silently truncated data.
        if expected and n < 0.9 * expected:
            raise VideoError(f"{path}: truncated, decoded {n} of {expected} frames")
        # Others (Matroska/WebM) state a duration: the decoded frames must span it.
        if not expected and last_t is not None:
            if stream.duration and stream.time_base:
                duration = float(stream.duration * stream.time_base)
            else:
                duration = c.duration / av.time_base if c.duration else 0.0
            rate = stream.average_rate or stream.guessed_rate
            frame_s = 1.0 / float(rate) if rate else 0.0
            covered = last_t - first_t + frame_s
            if duration > 0 and covered < 0.9 * duration:
                raise VideoError(
                    f"{path}: truncated, decoded frames span {covered:.2f} s "
                    f"of the stated {duration:.2f} s"
                )


X264_CPU_AVX512 = 1 << 16  # x264.h: AVX-512 {F, CD, BW, DQ, VL}
_X264_THREADS = "threads=1:lookahead-threads=1:sliced-threads=0"
_X86 = platform.machine().lower() in {"x86_64", "amd64", "x86", "i386", "i686"}


@functools.cache
def _x264_asm_flags() -> int | None:
    """The CPU flags x264 detects here, less AVX-512; None where they cannot be read.

    Asks the libx264 that PyAV loads (the wheel's copy in ``av.libs``, else the system's)
    through its exported ``x264_cpu_detect``.
    """
    if not _X86:
        return None  # x264 has AVX-512 code on x86 only
    here = Path(av.__file__).resolve().parent
    names = [*sorted(here.parent.glob("av.libs/libx264*")), *sorted(here.glob(".dylibs/libx264*"))]
    system = ctypes.util.find_library("x264")
    for name in [*map(str, names), *([system] if system else [])]:
        try:
            detect = ctypes.CDLL(name).x264_cpu_detect
        except (OSError, AttributeError):
            continue
        detect.argtypes, detect.restype = [], ctypes.c_uint32
        return int(detect()) & ~X264_CPU_AVX512
    return None


def x264_params() -> str:
    """``x264-params`` of VideoWriter: single-threaded, and never x264's AVX-512 code.

    Measured (PyAV 18.1.0, x264 core 165, an AVX-512 CPU): with x264's default asm the bytes
    depended on what the heap held before (glibc's MALLOC_PERTURB_ changed them; same frames,
    same options, one thread) as soon as MB-tree and B-frames were both on: an AVX-512 routine
    reads memory nobody wrote, so re-renders differed at random and more often under
    parallel load. With the AVX-512 flag off, or asm=0, or bframes=0, or mbtree=0, the bytes
    no longer depend on it. Where x264's CPU flags cannot be read (``_x264_asm_flags``),
    B-frames are turned off instead: also deterministic, files 21-37 % larger (measured on
    three cohort videos at unchanged PSNR).
    """
    flags = _x264_asm_flags()
    if flags is not None:
        return f"{_X264_THREADS}:asm={flags}"
    return f"{_X264_THREADS}:bframes=0" if _X86 else _X264_THREADS


class VideoWriter:
    """H.264 writer that only creates ``path`` if every frame was written (atomic rename).

    The same frames give the same bytes, in separate processes and under parallel load, on
    one machine and x264 build (x264's SIMD code differs from CPU to CPU): see x264_params.
    """

    def __init__(
        self, path: str | os.PathLike, width: int, height: int, fps: float, crf: int = 20
    ) -> None:
        if width % 2 or height % 2:
            raise VideoError(f"{path}: frame size {width}x{height} must be even for yuv420p")
        self.path = Path(path)
        self.width, self.height, self.fps, self.crf = width, height, fps, crf

    def __enter__(self) -> VideoWriter:
        self._atomic = atomic_path(self.path)
        tmp = self._atomic.__enter__()
        self._container = av.open(str(tmp), mode="w", format="mp4")
        rate = Fraction(self.fps).limit_denominator(1001)
        self._stream = self._container.add_stream("libx264", rate=rate)
        self._stream.width, self._stream.height = self.width, self.height
        self._stream.pix_fmt = "yuv420p"
        # Single-threaded x264 including lookahead, without its AVX-512 code (x264_params).
        # PyAV applies these: the x264 SEI in the file reads e.g. threads=1 lookahead_threads=1.
        self._stream.options = {
            "crf": str(self.crf),
            "preset": "veryfast",
            "x264-params": x264_params(),
        }
        self._stream.codec_context.thread_count = 1
        self._stream.codec_context.thread_type = "NONE"
        return self

    def write(self, frame_bgr: np.ndarray) -> None:
        # Converted with OpenCV: same frames, same I420 bytes in every re-render (measured).
        # FFmpeg's swscale bgr24 → yuv420p was once blamed for differing re-renders, but with
        # x264_params its output did not vary either: the differences were x264's.
        yuv = cv2.cvtColor(np.ascontiguousarray(frame_bgr), cv2.COLOR_BGR2YUV_I420)
        frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                for packet in self._stream.encode():
                    self._container.mux(packet)
        finally:
            self._container.close()
            self._atomic.__exit__(exc_type, exc, tb)
