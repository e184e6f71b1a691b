"""The stimulus beside the data: a player synced to every chart, and a filmstrip along the time axis.

The stimulus video is inlined as a ``data:`` URI (the report stays one file that needs no network)
when it is at most ``MAX_INLINE_MB``; larger stimuli get the filmstrip only, with a note. The sync
is a small script: clicking a point of any chart (or a filmstrip frame) seeks the player to that
second, and playing moves a cursor across every chart (x = playback time - 0.5, since the point
of second ``s`` stands for [s, s + 1)).
"""

from __future__ import annotations

import base64
import html
import math
import mimetypes
from pathlib import Path

from affectlens.studies.aggregate import n_seconds

MAX_INLINE_MB = 25.0
MAX_FRAMES = 40  # filmstrip frames at most (one per second for stimuli up to 40 s)

SYNC_JS = """
(function () {
  var player = document.getElementById('stimulus-player');
  var plots = Array.prototype.slice.call(document.querySelectorAll('.js-plotly-plot'));
  function seek(s) { if (!player) return; player.currentTime = Math.max(0, s); }
  plots.forEach(function (div) {
    div.__baseShapes = ((div.layout && div.layout.shapes) || []).slice();
    div.on && div.on('plotly_click', function (ev) {
      var p = ev && ev.points && ev.points[0];
      if (p && typeof p.x === 'number') seek(p.x);
    });
  });
  document.querySelectorAll('[data-second]').forEach(function (el) {
    el.addEventListener('click', function () { seek(parseFloat(el.getAttribute('data-second'))); });
  });
  var last = -1;
  function cursor() {
    var x = player.currentTime - 0.5;
    if (Math.abs(x - last) < 0.05) return;
    last = x;
    plots.forEach(function (div) {
      var line = {type: 'line', xref: 'x', yref: 'paper', x0: x, x1: x, y0: 0, y1: 1,
                  line: {color: '#d62728', width: 2}, name: 'playhead'};
      Plotly.relayout(div, {shapes: div.__baseShapes.concat([line])});
    });
    window.affectlensReport = {playhead: x, charts: plots.length};
  }
  if (player) { player.addEventListener('timeupdate', cursor); player.addEventListener('seeked', cursor); }
  window.affectlensReport = {playhead: null, charts: plots.length};
})();
"""


def _player(path: Path) -> str:
    size_mb = path.stat().st_size / 1e6
    if size_mb > MAX_INLINE_MB:
        return (
            f'<p class="note">The stimulus ({size_mb:.0f} MB) is larger than {MAX_INLINE_MB:.0f} MB: it is not '
            "inlined; the filmstrip shows its frames.</p>"
        )
    kind = mimetypes.guess_type(path.name)[0] or "video/mp4"
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (
        f'<video id="stimulus-player" controls preload="auto" src="data:{kind};base64,{data}"></video>'
        "<p class='sub'>Click a point of any chart or a frame below to jump there; playing moves a red line "
        "across every chart.</p>"
    )


def filmstrip_times(duration_s: float, max_frames: int = MAX_FRAMES, fps: float | None = None) -> list[float]:
    """The middle of every ``step``-th second of the timeline (:func:`n_seconds`), ``step`` chosen so at most
    ``max_frames`` frames."""
    n = n_seconds(duration_s, fps)
    step = max(1, math.ceil(n / max_frames))
    return [min(s + 0.5, max(duration_s - 1e-3, 0.0)) for s in range(0, n, step)]


def section(stimulus_path: str, duration_s: float, fps: float | None = None) -> str:
    """The player (when small enough) and the filmstrip; a note when the stimulus file is gone."""
    path = Path(stimulus_path)
    if not path.is_file():
        return f'<p class="note">Stimulus {html.escape(stimulus_path)} not found: no player or filmstrip.</p>'
    from affectlens.studies.media import frames_at, jpeg_data_uri

    times = filmstrip_times(duration_s, fps=fps)
    frames = frames_at(path, times)
    cells = "".join(
        f'<figure data-second="{math.floor(t)}"><img alt="stimulus at {math.floor(t)} s" '
        f'src="{jpeg_data_uri(frames[t], width=160, quality=70)}"><figcaption>{math.floor(t)} s</figcaption></figure>'
        for t in times
        if t in frames
    )
    return _player(path) + f'<div class="filmstrip">{cells}</div>'


CSS = (
    "#stimulus-player{width:100%;max-width:720px;background:#000;display:block}"
    ".filmstrip{display:flex;overflow-x:auto;gap:4px;margin:8px 0 20px}"
    ".filmstrip figure{margin:0;flex:0 0 auto;cursor:pointer;text-align:center;font-size:12px;color:#555}"
    ".filmstrip img{width:120px;display:block;border:1px solid #ccc}"
    "@media print{#stimulus-player{display:none}.filmstrip{flex-wrap:wrap}}"
)
