"""The recipient's page: plain HTML and CSS with a little inline JavaScript that polls the JSON
endpoint. Nothing is loaded from anywhere else; the Content-Security-Policy admits exactly this
style and this script (by their hashes) and requests to this origin."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime
from html import escape

from lastmile.tracking.links.schemas import LinkStatus, TrackingLinkRead

POLL_SECONDS = 15
STATUS_TEXT = {
    LinkStatus.scheduled: "Your delivery is scheduled",
    LinkStatus.on_the_way: "Your driver is on the way",
    LinkStatus.arrived: "Your driver has arrived",
    LinkStatus.delivered: "Delivered",
    LinkStatus.not_delivered: "Delivery was not possible",
    LinkStatus.cancelled: "This delivery was cancelled",
}
NOT_FOUND_TEXT = "This tracking link is not valid or has expired."

_CSS = """
:root{color-scheme:light dark;--fg:#1b1f23;--muted:#5b6570;--bg:#f4f5f7;--card:#fff;--accent:#0b6bcb}
@media (prefers-color-scheme:dark){:root{--fg:#e8eaed;--muted:#9aa3ad;--bg:#121417;--card:#1d2024;--accent:#5aa9ff}}
*{box-sizing:border-box}
body{margin:0;font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
main{max-width:32rem;margin:0 auto;padding:1rem}
.card{background:var(--card);border-radius:.75rem;padding:1.25rem;box-shadow:0 1px 3px rgba(0,0,0,.12)}
h1{font-size:1.35rem;margin:0 0 .5rem}
p{margin:.4rem 0}
.eta{font-size:1.1rem;color:var(--accent);font-weight:600}
.muted{color:var(--muted);font-size:.875rem}
[hidden]{display:none!important}
"""

_JS = """
(function () {
  "use strict";
  var app = document.getElementById("app");
  var source = app.getAttribute("data-source");
  var every = Number(app.getAttribute("data-poll")) * 1000;
  var texts = JSON.parse(document.getElementById("texts").textContent);
  function el(id) { return document.getElementById(id); }
  function sameDay(a, b) { return a.toDateString() === b.toDateString(); }
  function time(iso) {
    var d = new Date(iso);
    var t = d.toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"});
    if (sameDay(d, new Date())) { return t; }
    return d.toLocaleDateString([], {weekday: "short", day: "numeric", month: "short"}) + ", " + t;
  }
  function show(id, text) {
    var node = el(id);
    node.textContent = text || "";
    node.hidden = !text;
  }
  function etaText(w) {
    if (!w || (!w.start && !w.end)) { return ""; }
    if (w.start && w.end) { return "Expected between " + time(w.start) + " and " + time(w.end); }
    return w.end ? "Expected by " + time(w.end) : "Expected from " + time(w.start);
  }
  function render(data) {
    show("status", texts[data.status] || data.status);
    show("eta", etaText(data.eta_window));
    var d = data.driver;
    show("driver", d ? "Your driver: " + d.first_name + (d.vehicle_type ? " (" + d.vehicle_type + ")" : "") : "");
    var p = data.position;
    show("position", p ? "Driver's position at " + time(p.recorded_at) + ": " + p.lat.toFixed(4) + ", " + p.lng.toFixed(4) : "");
    var f = data.proof;
    if (f) {
      var taken = [];
      if (f.photo) { taken.push("photo"); }
      if (f.signature) { taken.push("signature"); }
      show("proof", "Delivered at " + time(f.completed_at) + (taken.length ? " \\u00b7 " + taken.join(" and ") + " taken" : ""));
      show("notes", f.notes ? "Driver's notes: " + f.notes : "");
    } else {
      show("proof", "");
      show("notes", "");
    }
  }
  function later(seconds) { window.setTimeout(poll, seconds * 1000); }
  function poll() {
    fetch(source, {cache: "no-store", credentials: "omit", headers: {"Accept": "application/json"}})
      .then(function (r) {
        if (r.status === 404) {
          show("status", texts.gone); show("eta", ""); show("driver", ""); show("position", "");
          show("proof", ""); show("notes", ""); return;
        }
        if (r.status === 429) { later(Number(r.headers.get("Retry-After")) || every / 1000); return; }
        if (!r.ok) { later(every / 1000); return; }
        return r.json().then(function (data) { render(data); later(every / 1000); });
      })
      .catch(function () { later(every / 1000); });
  }
  render(JSON.parse(document.getElementById("initial").textContent));
  later(every / 1000);
})();
"""


def _json(value: object) -> str:
    """JSON safe inside a <script> element."""
    return (
        json.dumps(value, separators=(",", ":"))
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
    )


def _utc(at: datetime) -> str:
    return at.strftime("%d %b %H:%M UTC")


def _eta(view: TrackingLinkRead) -> str:
    w = view.eta_window
    if w is None or (w.start is None and w.end is None):
        return ""
    if w.start is not None and w.end is not None:
        return f"Expected between {_utc(w.start)} and {_utc(w.end)}"
    return f"Expected by {_utc(w.end)}" if w.end else f"Expected from {_utc(w.start)}"  # type: ignore[arg-type]


def _line(id_: str, text: str, css: str = "") -> str:
    hidden = "" if text else " hidden"
    cls = f' class="{css}"' if css else ""
    return f'<p id="{id_}"{cls}{hidden}>{escape(text)}</p>'


def _sha256(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


CSP = (
    f"default-src 'none'; style-src {_sha256(_CSS)}; script-src {_sha256(_JS)}; "
    "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)


def _document(body: str, script: str = "") -> str:
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex, nofollow">'
        '<meta name="referrer" content="no-referrer">'
        "<title>Delivery tracking</title>"
        f"<style>{_CSS}</style></head>"
        f"<body><main>{body}</main>{script}</body></html>\n"
    )


def render(view: TrackingLinkRead, *, source: str) -> str:
    """The page for a link: readable as served (times in UTC), then kept current in the
    recipient's local time by the script, which polls `source` every POLL_SECONDS."""
    driver = ""
    if view.driver is not None:
        vehicle = f" ({view.driver.vehicle_type})" if view.driver.vehicle_type else ""
        driver = f"Your driver: {view.driver.first_name}{vehicle}"
    position = ""
    if view.position is not None:
        p = view.position
        position = f"Driver's position at {_utc(p.recorded_at)}: {p.lat:.4f}, {p.lng:.4f}"
    proof = notes = ""
    if view.proof is not None:
        taken = [k for k in ("photo", "signature") if getattr(view.proof, k)]
        proof = f"Delivered at {_utc(view.proof.completed_at)}" + (
            f" \u00b7 {' and '.join(taken)} taken" if taken else ""
        )
        notes = f"Driver's notes: {view.proof.notes}" if view.proof.notes else ""
    body = (
        f'<div id="app" class="card" data-source="{escape(source)}" data-poll="{POLL_SECONDS}">'
        + f'<h1 id="status">{escape(STATUS_TEXT[view.status])}</h1>'
        + _line("eta", _eta(view), "eta")
        + _line("driver", driver)
        + _line("position", position, "muted")
        + _line("proof", proof)
        + _line("notes", notes)
        + f'<p class="muted">This page updates itself every {POLL_SECONDS} seconds.</p>'
        + "</div>"
    )
    texts = {**{s.value: t for s, t in STATUS_TEXT.items()}, "gone": NOT_FOUND_TEXT}
    script = (
        f'<script type="application/json" id="initial">{_json(view.model_dump(mode="json"))}'
        f'</script><script type="application/json" id="texts">{_json(texts)}</script>'
        f"<script>{_JS}</script>"
    )
    return _document(body, script)


NOT_FOUND_PAGE = _document(f'<div class="card"><h1>{escape(NOT_FOUND_TEXT)}</h1></div>')
