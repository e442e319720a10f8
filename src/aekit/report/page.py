"""The report page: a section of figures, and the one self-contained HTML page built from them.

Each figure is kept as PNG bytes and embedded as a base64 ``data:`` URI, so the page is a single
file that opens anywhere, offline.
"""

from __future__ import annotations

import base64
import dataclasses
import html

from .. import plots


@dataclasses.dataclass
class Section:
    id: str
    title: str
    html: str = ""
    figures: list[tuple[str, str, bytes]] = dataclasses.field(default_factory=list)  # (id, caption, png)
    notes: list[str] = dataclasses.field(default_factory=list)  # parts left out

    def add(self, fig_id: str, caption: str, fig) -> None:
        self.figures.append((fig_id, caption, plots.to_png(fig)))


CSS = """body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222}h1{margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #ddd;padding:.3em .7em;text-align:left;
vertical-align:top}th{background:#f6f6f6;font-weight:600}figure{margin:1em 0}img{max-width:100%;height:auto}
figcaption{color:#555;font-size:.92em}.note{background:#fff6e0;border-left:4px solid #e0a800;padding:.5em 1em}
nav a{margin-right:1em}"""


def _page(title: str, sections: list[Section], notes: list[str]) -> str:
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             "<link rel='icon' href='data:,'>", f"<style>{CSS}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>", "<nav>" + "".join(
                 f"<a href='#{s.id}'>{html.escape(s.title)}</a>" for s in sections) + "</nav>"]
    for s in sections:
        parts.append(f"<section id='{s.id}'><h2>{html.escape(s.title)}</h2>{s.html}")
        for fid, caption, png in s.figures:
            b64 = base64.b64encode(png).decode("ascii")
            parts.append(f"<figure id='{fid}'><img src='data:image/png;base64,{b64}' alt='{html.escape(caption, quote=True)}'>"
                         f"<figcaption>{html.escape(caption)}</figcaption></figure>")
        parts.append("</section>")
    if notes:
        parts.append("<section id='notes'><h2>Left out</h2><div class='note'><ul>"
                     + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul></div></section>")
    parts.append("</body></html>\n")
    return "\n".join(parts)
