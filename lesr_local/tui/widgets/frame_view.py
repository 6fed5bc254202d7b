"""A terminal picture of an RGB frame: each cell shows two vertical pixels with '▀' (fg = top, bg = bottom)."""

from __future__ import annotations

import numpy as np
from PIL import Image
from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.reactive import reactive
from textual.timer import Timer
from textual.widget import Widget

UPPER_HALF = "\u2580"


def fit_frame(frame: np.ndarray, columns: int, rows: int) -> np.ndarray:
    """Resize `frame` (H, W, 3) to columns x (2 * rows) pixels, keeping its aspect ratio (letterboxed).

    A terminal cell is about twice as tall as wide, so two stacked pixels make a square-ish cell.
    """
    columns, rows = max(columns, 1), max(rows, 1)
    height_px, width_px = frame.shape[:2]
    target_w, target_h = columns, rows * 2
    scale = min(target_w / width_px, target_h / height_px)
    new_w, new_h = max(1, round(width_px * scale)), max(1, round(height_px * scale))
    image = Image.fromarray(np.ascontiguousarray(frame[..., :3], dtype=np.uint8))
    small = np.asarray(image.resize((new_w, new_h), Image.Resampling.BILINEAR), dtype=np.uint8)
    canvas = np.zeros((target_h, target_w, 3), dtype=np.uint8)
    top, left = (target_h - new_h) // 2, (target_w - new_w) // 2
    canvas[top:top + new_h, left:left + new_w] = small
    return canvas


class HalfBlockImage:
    """A Rich renderable drawing an RGB frame with half blocks at a fixed cell size."""

    def __init__(self, frame: np.ndarray, columns: int, rows: int) -> None:
        self.pixels = fit_frame(frame, columns, rows)
        self.columns = columns
        self.rows = rows

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        pixels = self.pixels
        styles: dict[tuple[int, ...], Style] = {}
        for row in range(self.rows):
            top, bottom = pixels[2 * row], pixels[2 * row + 1]
            for col in range(self.columns):
                key = (*top[col].tolist(), *bottom[col].tolist())
                style = styles.get(key)
                if style is None:
                    style = Style(color=f"rgb({key[0]},{key[1]},{key[2]})",
                                  bgcolor=f"rgb({key[3]},{key[4]},{key[5]})")
                    styles[key] = style
                yield Segment(UPPER_HALF, style)
            yield Segment.line()


class FrameView(Widget):
    """Shows one frame, or plays a short clip in a loop; a caption when there is nothing to show."""

    DEFAULT_CSS = """
    FrameView {
        width: 1fr;
        height: 1fr;
        content-align: center middle;
    }
    """

    caption: reactive[str] = reactive("no frame yet")
    fps: reactive[float] = reactive(8.0)

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._clip: list[np.ndarray] = []
        self._index = 0
        self._timer: Timer | None = None

    @property
    def frame_count(self) -> int:
        return len(self._clip)

    @property
    def current(self) -> np.ndarray | None:
        return self._clip[self._index] if self._clip else None

    def show_frame(self, frame: np.ndarray) -> None:
        self.show_clip([frame])

    def show_clip(self, frames: list[np.ndarray]) -> None:
        """Replace what is shown; several frames play in a loop at `fps`."""
        self._clip = [np.asarray(f, dtype=np.uint8) for f in frames]
        self._index = 0
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if len(self._clip) > 1 and self.is_mounted:
            self._timer = self.set_interval(1 / max(self.fps, 0.5), self._advance)
        self.refresh()

    def clear(self, caption: str) -> None:
        self.show_clip([])
        self.caption = caption

    def _advance(self) -> None:
        if self._clip:
            self._index = (self._index + 1) % len(self._clip)
            self.refresh()

    def on_mount(self) -> None:
        if len(self._clip) > 1 and self._timer is None:
            self._timer = self.set_interval(1 / max(self.fps, 0.5), self._advance)

    def render(self) -> HalfBlockImage | Text:
        frame = self.current
        width, height = self.content_size.width, self.content_size.height
        if frame is None or width < 2 or height < 1:
            return Text(self.caption, style="dim", justify="center")
        return HalfBlockImage(frame, width, height)
