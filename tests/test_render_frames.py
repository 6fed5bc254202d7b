"""Offscreen MuJoCo frames: backend detection, real frames from the sandboxed render worker."""

from __future__ import annotations

import numpy as np
import pytest

from lesr_local.errors import BadInput
from lesr_local.render import gl
from lesr_local.render.frames import is_blank, render_frame, render_frames
from lesr_local.tui.widgets.frame_view import HalfBlockImage, fit_frame


def test_detects_a_working_backend() -> None:
    backend = gl.detect_backend(refresh=True)
    assert backend in gl.BACKENDS
    assert gl.probe_backend(backend) is None


def test_unknown_backend_reports_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gl, "BACKENDS", ("no-such-backend",))
    monkeypatch.setenv("MUJOCO_GL", "no-such-backend")
    with pytest.raises(BadInput) as info:
        gl.detect_backend(refresh=True)
    assert str(info.value).startswith("offscreen MuJoCo rendering unavailable: no-such-backend:")
    assert "\n" not in str(info.value)
    monkeypatch.undo()
    gl.detect_backend(refresh=True)  # leave a working backend cached for the other tests


def test_random_frame_is_not_blank() -> None:
    frame = render_frame("InvertedPendulum-v5", step=3, width=96, height=64)
    assert frame.shape == (64, 96, 3)
    assert frame.dtype == np.uint8
    assert not is_blank(frame)
    assert len(np.unique(frame.reshape(-1, 3), axis=0)) > 8  # a scene, not a flat fill


def test_clip_frames_differ_as_the_body_moves() -> None:
    frames = render_frames("HalfCheetah-v5", count=6, every=5, width=80, height=60, seed=1)
    assert len(frames) == 6
    assert all(f.shape == (60, 80, 3) for f in frames)
    assert any(np.abs(frames[0].astype(int) - f.astype(int)).sum() > 0 for f in frames[1:])


def test_unknown_env_fails_with_a_reason() -> None:
    from lesr_local.render.client import RenderError

    with pytest.raises((RenderError, BadInput)) as info:
        render_frame("NoSuchEnv-v9", width=32, height=32)
    assert "NoSuchEnv" in str(info.value)


def test_half_block_drawing_keeps_colours() -> None:
    frame = np.zeros((40, 40, 3), dtype=np.uint8)
    frame[:20] = (255, 0, 0)
    frame[20:] = (0, 0, 255)
    pixels = fit_frame(frame, 10, 5)
    assert pixels.shape == (10, 10, 3)
    import io

    from rich.console import Console

    console = Console(width=10, color_system="truecolor", record=True, file=io.StringIO())
    console.print(HalfBlockImage(frame, 10, 5))
    text = console.export_text(clear=False)
    assert text.count("\u2580") == 50
    styled = console.export_html(inline_styles=True)
    assert "#ff0000" in styled and "#0000ff" in styled
