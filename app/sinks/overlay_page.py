"""The browser-source page: live commentary on a transparent background, for OBS.

Every caption, chat and alert overlay streamers use is a web page that OBS's
Browser Source draws over the scene, so this is one too. It is a single HTML
document with its CSS and script inline (it works offline and loads nothing
else), fed by the server's Server-Sent Events stream (``/events``), which the
browser reopens by itself if the app restarts.

The look comes from the overlay settings, as :class:`PageStyle`, and each
field can be overridden by a URL query parameter (``?lines=3&size=40&align=left``),
so one app can feed several differently styled sources. Parameters the page
does not understand, or values out of range, fall back to the defaults.

The last ``lines`` lines are shown by clipping the top of a bottom-aligned
block: the browser wraps the text to the source's width, as the overlay window does.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

# URL parameter -> PageStyle field; also the list the README documents.
URL_PARAMETERS = {
    "lines": "lines",
    "font": "font_family",
    "size": "font_size",
    "bold": "bold",
    "color": "text_color",
    "outline": "outline_color",
    "outline_width": "outline_width",
    "shadow": "shadow",
    "background": "background_color",
    "background_opacity": "background_opacity",
    "fade": "fade_after_s",
    "align": "align",
}


@dataclass(frozen=True)
class PageStyle:
    """How the page draws commentary; the defaults match the overlay window's.

    Colours are ``#RRGGBB`` or Qt's ``#AARRGGBB``; ``fade_after_s`` 0 never fades;
    ``align`` is ``left``, ``center`` or ``right``.
    """

    font_family: str = "Sans Serif"
    font_size: int = 28
    bold: bool = True
    text_color: str = "#FFFFFF"
    outline_color: str = "#000000"
    outline_width: float = 3.0
    shadow: bool = True
    background_color: str = "#000000"
    background_opacity: float = 0.45
    lines: int = 2
    fade_after_s: float = 6.0
    align: str = "center"

    @classmethod
    def from_settings(cls, overlay: object, align: str = "center") -> PageStyle:
        """The page's look from the overlay window's settings (any object with the same field names)."""
        names = [name for name in cls.__dataclass_fields__ if name != "align"]
        return cls(**{name: getattr(overlay, name) for name in names if hasattr(overlay, name)}, align=align)


def render_page(style: PageStyle) -> bytes:
    """The whole page, with ``style`` as its defaults."""
    # "<" escaped so a font name can never close the script element.
    defaults = json.dumps({**asdict(style), "params": URL_PARAMETERS}).replace("<", "\\u003c")
    return _PAGE.replace("/*DEFAULTS*/{}", defaults).encode("utf-8")


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>LiveCC Desk commentary</title>
<style>
html, body { margin: 0; padding: 0; background: transparent; overflow: hidden; height: 100%; }
body { display: flex; flex-direction: column; justify-content: flex-end; align-items: center; }
#box { box-sizing: border-box; max-width: 100%; margin: 0.3em; padding: 0.15em 0.5em;
       border-radius: 0.35em; opacity: 1; transition: opacity 0.7s ease-in; visibility: hidden; }
#box.fading { opacity: 0; }
#clip { display: flex; flex-direction: column; justify-content: flex-end; overflow: hidden; }
#text { flex-shrink: 0; line-height: 1.25; overflow-wrap: anywhere; white-space: pre-wrap; }
</style>
</head>
<body>
<div id="box"><div id="clip"><div id="text"><span id="done"></span><span id="cur"></span></div></div></div>
<script>
"use strict";
const DEFAULTS = /*DEFAULTS*/{};
const query = new URLSearchParams(location.search);
const MAX_WORDS = 200;

function param(field) {
  for (const [name, f] of Object.entries(DEFAULTS.params)) {
    if (f === field && query.has(name)) return query.get(name);
  }
  return null;
}
function num(field, lo, hi) {
  const v = parseFloat(param(field));
  return Number.isFinite(v) ? Math.min(hi, Math.max(lo, v)) : DEFAULTS[field];
}
function flag(field) {
  const v = param(field);
  return v === null ? DEFAULTS[field] : !/^(0|false|no|off)$/i.test(v);
}
function rgba(text, opacity) {
  let h = String(text).trim().replace(/^#/, "");
  if (!/^([0-9a-f]{3}|[0-9a-f]{6}|[0-9a-f]{8})$/i.test(h)) return null;
  if (h.length === 3) h = h.split("").map(c => c + c).join("");
  let a = 1;
  if (h.length === 8) { a = parseInt(h.slice(0, 2), 16) / 255; h = h.slice(2); }  // Qt's #AARRGGBB
  const [r, g, b] = [0, 2, 4].map(i => parseInt(h.slice(i, i + 2), 16));
  return `rgba(${r}, ${g}, ${b}, ${(a * opacity).toFixed(3)})`;
}
function color(field, opacity = 1) {
  return rgba(param(field) ?? DEFAULTS[field], opacity) || rgba(DEFAULTS[field], opacity);
}

const style = {
  lines: Math.round(num("lines", 1, 20)),
  font: (param("font_family") || DEFAULTS.font_family).slice(0, 100),
  size: num("font_size", 6, 300),
  bold: flag("bold"),
  text: color("text_color"),
  outline: color("outline_color"),
  outlineWidth: num("outline_width", 0, 30),
  shadow: flag("shadow"),
  background: color("background_color", num("background_opacity", 0, 1)),
  fade: num("fade_after_s", 0, 3600),
  align: ["left", "center", "right"].includes(param("align")) ? param("align") : DEFAULTS.align,
};

const box = document.getElementById("box");
const clip = document.getElementById("clip");
const text = document.getElementById("text");
const done = document.getElementById("done");
const cur = document.getElementById("cur");

(function applyStyle() {
  const w = style.outlineWidth;
  const shadows = [];
  if (w > 0) {
    for (let i = 0; i < 16; i++) {
      const a = (i / 16) * 2 * Math.PI;
      shadows.push(`${(w * Math.cos(a)).toFixed(2)}px ${(w * Math.sin(a)).toFixed(2)}px 0 ${style.outline}`);
    }
  }
  const drop = (w / 2 + 2).toFixed(1);
  if (style.shadow) shadows.push(`${drop}px ${drop}px ${w + 2}px rgba(0, 0, 0, 0.8)`);
  document.body.style.alignItems = {left: "flex-start", center: "center", right: "flex-end"}[style.align];
  text.style.textAlign = style.align;
  text.style.fontFamily = `"${style.font.replace(/["\\\\]/g, "")}", sans-serif`;
  text.style.fontSize = `${style.size}px`;
  text.style.fontWeight = style.bold ? "bold" : "normal";
  text.style.color = style.text;
  text.style.textShadow = shadows.join(", ");
  box.style.background = style.background;
  clip.style.maxHeight = `${style.lines * 1.25 * style.size}px`;
  box.style.padding = `${(0.15 * style.size + w).toFixed(1)}px ${(0.5 * style.size + w).toFixed(1)}px`;
})();

// What is shown: finished words, and the chunk being decoded.
let words = [];
let current = "";
let fadeTimer = null;
const isSilence = s => /^[\\s.\\u2026]*$/.test(s);
const trace = query.has("trace") ? (window.liveccTrace = []) : null;

function render() {
  const live = isSilence(current) ? "" : current.trim();
  done.textContent = words.join(" ") + (live && words.length ? " " : "");
  cur.textContent = live;
  const empty = !words.length && !live;
  box.style.visibility = empty ? "hidden" : "visible";
  box.classList.remove("fading");
  clearTimeout(fadeTimer);
  if (!empty && style.fade > 0) fadeTimer = setTimeout(() => box.classList.add("fading"), style.fade * 1000);
}
box.addEventListener("transitionend", () => {
  if (box.classList.contains("fading")) { words = []; current = ""; render(); }
});

function add(textToAdd) {
  if (isSilence(textToAdd)) return;
  words.push(...textToAdd.split(/\\s+/).filter(Boolean));
  if (words.length > MAX_WORDS) words = words.slice(-MAX_WORDS);
}

function receive(msg) {
  switch (msg.type) {
    case "snapshot":
      words = []; current = "";
      if (!(style.fade > 0 && msg.age >= style.fade)) { add(msg.words.join(" ")); current = msg.current; }
      break;
    case "start": current = ""; break;
    case "delta": current += msg.text; break;
    case "done": current = ""; add(msg.text); break;
    case "clear": words = []; current = ""; break;
    default: return;
  }
  render();
  if (trace) {
    const shown = performance.timeOrigin + performance.now();
    const entry = {type: msg.type, text: msg.text || "", shown, painted: null};
    trace.push(entry);
    if (trace.length > 500) trace.shift();
    requestAnimationFrame(() => requestAnimationFrame(() => {
      entry.painted = performance.timeOrigin + performance.now();
    }));
  }
}

const token = query.get("token");
const events = new EventSource("/events" + (token ? "?token=" + encodeURIComponent(token) : ""));
events.onmessage = e => { try { receive(JSON.parse(e.data)); } catch (err) { /* a bad message is skipped */ } };
</script>
</body>
</html>
"""
