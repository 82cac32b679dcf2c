"""Server-rendered pages: the runs overview, a run's page, and the generate page.

Owns: the shared page layout (navigation, style, a per-response script
nonce in the Content-Security-Policy) and the HTML of these pages. Pages
hold no logic of their own: images come from the ``/api`` routes, which the
small inline scripts call. Every value from a run or a request is escaped.
"""

from __future__ import annotations

import html
import json
import secrets
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from gankit.config import dump_yaml
from gankit.web.catalog import Catalog, ServedRun
from gankit.web.errors import NotFound
from gankit.web.params import (
    DEFAULT_COUNT,
    DEFAULT_FRAMES,
    MAX_COUNT,
    MAX_FRAMES,
    MAX_SEED,
    Checkpoint,
    Count,
    Label,
    RunChoice,
    RunId,
    Seed,
)
from gankit.web.services import services

router = APIRouter(include_in_schema=False)
e = html.escape

CSS = """
body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
nav{background:#223;padding:.6em 1em}nav a{color:#eef;margin-right:1.2em;text-decoration:none}
main{max-width:1100px;margin:1em auto;padding:0 1em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .6em}
th{background:#eee}pre{background:#f0f0f0;padding:.8em;overflow:auto;max-height:30em}
img.px{image-rendering:crisp-edges;image-rendering:pixelated}
.msg{color:#a22;min-height:1.4em}.muted{color:#777}
form.row label{margin-right:1em}input[type=number]{width:6em}
.choices{display:flex;gap:12px;flex-wrap:wrap}.choice{cursor:pointer}
.choice input{display:none}.choice img{width:168px;height:168px;border:4px solid #ddd}
.choice input:checked+img{border-color:#d22}
.panels{display:flex;gap:2em;flex-wrap:wrap}figure.examples{margin:0 0 1em;max-width:260px}
figure.examples img{width:56px;height:56px;margin:2px}
iframe{width:100%;height:75vh;border:1px solid #ccc;background:#fff}
img.plot{max-width:100%}
"""


def layout(title: str, body: str, script: str = "") -> HTMLResponse:
    """A whole page; ``script`` runs inline under this response's nonce (and no other script)."""
    nonce = secrets.token_urlsafe(12)
    nav = "".join(
        f'<a href="{href}">{name}</a>'
        for href, name in [
            ("/", "Runs"),
            ("/generate", "Generate"),
            ("/quiz", "Human test"),
            ("/results", "Results"),
            ("/openapi.json", "API schema"),
        ]
    )
    page = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{e(title)} - gankit</title><style>{CSS}</style></head>"
        f"<body><nav>{nav}</nav><main>{body}</main>"
        f'<script nonce="{nonce}">{script}</script></body></html>'
    )
    csp = (
        f"default-src 'self'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; "
        "img-src 'self' data: blob:; frame-src 'self'; form-action 'self'; "
        "frame-ancestors 'self'; base-uri 'none'; object-src 'none'"
    )
    return HTMLResponse(page, headers={"Content-Security-Policy": csp, "Cache-Control": "no-store"})


def js(value) -> str:
    """A value as a JavaScript literal that cannot end the script element."""
    return json.dumps(value).replace("</", "<\\/")


def options(values: list[tuple[str, str]], selected: str) -> str:
    return "".join(
        f'<option value="{e(v)}"{" selected" if v == selected else ""}>{e(text)}</option>'
        for v, text in values
    )


def describe(served: ServedRun) -> str:
    cfg = served.config
    cond = f"conditional ({cfg.model.conditioning})" if served.conditional else "unconditional"
    return (
        f"{cfg.model.arch}, {cond}, {cfg.loss.loss} loss, on {cfg.data.dataset} at "
        f"{cfg.data.img_size} px"
    )


# --- the runs overview and a run's page ---


@router.get("/", response_class=HTMLResponse)
def index(request: Request):
    rows = []
    for served in services(request).catalog:
        steps = served.run.checkpoint_steps()
        latest = f"{steps[-1]:,}" if steps else "none yet"
        links = f'<a href="/generate?run={e(served.id)}">generate</a>' if steps else ""
        links += f' <a href="/quiz?run={e(served.id)}">test</a>' if steps else ""
        rows.append(
            f'<tr><td><a href="/runs/{e(served.id)}">{e(served.id)}</a></td>'
            f"<td>{e(describe(served))}</td><td>{len(steps)}</td><td>{latest}</td>"
            f"<td>{links}</td></tr>"
        )
    body = (
        "<h1>Runs</h1><table><tr><th>run</th><th>model</th><th>checkpoints</th>"
        f"<th>latest step</th><th></th></tr>{''.join(rows)}</table>"
    )
    return layout("Runs", body)


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_page(request: Request, run_id: RunId):
    served = services(request).catalog.get(run_id)
    steps, samples = served.run.checkpoint_steps(), served.sample_steps()
    rid = e(served.id)
    parts = [f"<h1>{rid}</h1><p>{e(describe(served))}.</p>"]
    if steps:
        ckpts = ", ".join(f'<a href="/generate?run={rid}&checkpoint={s}">{s:,}</a>' for s in steps)
        parts.append(f"<p>Checkpoints (generate from one): {ckpts}. ")
        parts.append(f'<a href="/quiz?run={rid}">Take the human test on this run</a>.</p>')
    parts.append(_samples_section(served, samples))
    if served.run.losses_path.is_file():
        parts.append(
            f'<h2>Loss curves</h2><img class="plot" src="/api/runs/{rid}/losses.png" alt="losses">'
        )
    if served.report_file() is not None:
        url = f"/api/runs/{rid}/report.html"
        parts.append(
            f'<h2>Evaluation</h2><p><a href="{url}" target="_blank">Open the report</a> '
            f'(made by gankit evaluate).</p><iframe src="{url}" sandbox title="report"></iframe>'
        )
    else:
        parts.append(
            '<h2>Evaluation</h2><p class="muted">No evaluation report yet: run '
            "<code>gankit evaluate RUN --checkpoint all</code> on this run's folder.</p>"
        )
    parts.append(f"<h2>Configuration</h2><pre>{e(dump_yaml(served.config))}</pre>")
    script = f"""
const steps = {js(samples)}, run = {js(served.id)};
const slider = document.getElementById('step'), img = document.getElementById('sample');
const label = document.getElementById('steplabel');
if (slider) slider.addEventListener('input', () => {{
  const s = steps[+slider.value];
  img.src = `/api/runs/${{encodeURIComponent(run)}}/samples/${{s}}.png`;
  label.textContent = 'step ' + s.toLocaleString();
}});
"""
    return layout(served.id, "".join(parts), script)


def _samples_section(served: ServedRun, samples: list[int]) -> str:
    if not samples:
        return "<h2>Samples over training</h2><p class='muted'>No sample grids yet.</p>"
    last = samples[-1]
    return (
        "<h2>Samples over training</h2>"
        f'<p><input type="range" id="step" min="0" max="{len(samples) - 1}" '
        f'value="{len(samples) - 1}" style="width:min(600px,90%)"> '
        f'<span id="steplabel">step {last:,}</span></p>'
        f'<img id="sample" class="px" style="max-width:100%;width:560px" '
        f'src="/api/runs/{e(served.id)}/samples/{last}.png" alt="samples">'
    )


# --- generate ---


@router.get("/generate", response_class=HTMLResponse)
def generate_page(
    request: Request,
    run: RunChoice = None,
    checkpoint: Checkpoint = "latest",
    label: Label = "",
    count: Count = DEFAULT_COUNT,
    seed: Seed = 0,
):
    catalog = services(request).catalog
    served = catalog.get(run) if run else catalog.require_ready()[0]
    steps = served.run.checkpoint_steps()
    if not steps:
        raise NotFound(f"run {served.id} has no checkpoint yet - train it first")
    served.checkpoint(checkpoint)  # unknown checkpoint: 404 now, not a broken image later
    body = "<h1>Generate</h1>" + _generate_form(catalog, served, checkpoint, label, count, seed)
    query = urlencode({"checkpoint": checkpoint, "label": label, "count": count, "seed": seed})
    src = f"/api/runs/{e(served.id)}/generate.png?{e(query)}"
    body += (
        '<p class="msg" id="msg"></p>'
        f'<p><img id="grid" class="px" alt="generated images" src="{src}"></p>'
        f'<p><a id="download" href="{src}&amp;scale=4&amp;download=true">Download PNG</a></p>'
        + _interpolation_form()
    )
    return layout(
        "Generate",
        body,
        GENERATE_JS.replace("RUN_ID", js(served.id)).replace("MAX_SEED", js(MAX_SEED)),
    )


def _generate_form(
    catalog: Catalog, served: ServedRun, checkpoint: str, label: str, count: int, seed: int
) -> str:
    runs = options([(r.id, r.id) for r in catalog], served.id)
    ckpts = [("latest", "latest")] + [("best", "best")] * served.has_best()
    ckpts += [(str(s), f"step {s:,}") for s in reversed(served.run.checkpoint_steps())]
    fields = [
        f'<label>run <select name="run" id="run">{runs}</select></label>',
        f'<label>checkpoint <select name="checkpoint">{options(ckpts, checkpoint)}</select></label>',
    ]
    if served.conditional:
        labels = [("", "all (balanced)")] + [(n, n) for n in served.class_names]
        fields.append(
            f'<label>label <select name="label">{options(labels, label)}</select></label>'
        )
    fields += [
        (
            f'<label>images <input type="number" name="count" min="1" max="{MAX_COUNT}" '
            f'value="{count}"></label>'
        ),
        (
            f'<label>seed <input type="number" name="seed" min="0" max="{MAX_SEED}" '
            f'value="{seed}"></label><button type="button" id="random">random seed</button>'
        ),
        '<button type="submit">Generate</button>',
    ]
    return f'<form id="gen" class="row" action="/generate">{"".join(fields)}</form>'


def _interpolation_form() -> str:
    return (
        "<h2>Interpolation between two seeds</h2>"
        '<form id="interp" class="row"><label>from seed <input type="number" name="seed_a" '
        f'min="0" max="{MAX_SEED}" value="0"></label><label>to seed <input type="number" '
        f'name="seed_b" min="0" max="{MAX_SEED}" value="1"></label><label>frames <input '
        f'type="number" name="frames" min="2" max="{MAX_FRAMES}" value="{DEFAULT_FRAMES}"></label>'
        '<button type="submit">Make</button></form><p class="msg" id="imsg"></p>'
        '<p><input type="range" id="slider" min="0" max="0" value="0" disabled '
        'style="width:min(500px,90%)"> <span id="flabel"></span></p>'
        '<p><img id="frame" class="px" alt="" style="width:224px"></p>'
    )


GENERATE_JS = """
const run = RUN_ID, form = document.getElementById('gen'), grid = document.getElementById('grid');
const msg = document.getElementById('msg'), dl = document.getElementById('download');
// FastAPI's 422s carry a list of field errors: show them as "count: ..." lines.
const detail = (j) => typeof j.detail === 'string' ? j.detail : Array.isArray(j.detail)
  ? j.detail.map((e) => `${(e.loc || []).slice(-1)[0] || 'input'}: ${e.msg}`).join('; ')
  : JSON.stringify(j.detail);
const api = `/api/runs/${encodeURIComponent(run)}`;
let shown = null, latest = 0, timer = null;
function params() {
  const p = new URLSearchParams();
  for (const n of ['checkpoint', 'label', 'count', 'seed'])
    if (form.elements[n] && form.elements[n].value !== '') p.set(n, form.elements[n].value);
  return p;
}
async function show() {
  const p = params(), url = `${api}/generate.png?${p}`, mine = ++latest;
  history.replaceState(null, '', `/generate?run=${encodeURIComponent(run)}&${p}`);
  dl.href = url + '&scale=4&download=true';
  msg.textContent = 'generating...';
  const r = await fetch(url);
  if (mine !== latest) return;  // a newer request was sent meanwhile
  if (!r.ok) { msg.textContent = detail(await r.json().catch(() => ({detail: r.statusText}))); return; }
  if (shown) URL.revokeObjectURL(shown);
  shown = URL.createObjectURL(await r.blob());
  grid.src = shown; msg.textContent = '';
}
grid.addEventListener('load', () => {
  const k = Math.max(1, Math.min(8, Math.round(560 / grid.naturalWidth)));
  grid.style.width = grid.naturalWidth * k + 'px'; grid.dataset.ready = latest;
});
grid.addEventListener('error', () => { if (!shown) show(); });
form.addEventListener('input', (ev) => {
  if (ev.target.name === 'run') return;
  clearTimeout(timer); timer = setTimeout(show, 250);
});
form.elements.run.addEventListener('change', () => {
  location.href = `/generate?run=${encodeURIComponent(form.elements.run.value)}`;
});
form.addEventListener('submit', (ev) => { ev.preventDefault(); show(); });
document.getElementById('random').addEventListener('click', () => {
  form.elements.seed.value = Math.floor(Math.random() * MAX_SEED); show();
});
const iform = document.getElementById('interp'), slider = document.getElementById('slider');
const frame = document.getElementById('frame'), imsg = document.getElementById('imsg');
let frames = [];
iform.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const p = new URLSearchParams(new FormData(iform));
  for (const n of ['checkpoint', 'label'])
    if (form.elements[n] && form.elements[n].value !== '') p.set(n, form.elements[n].value);
  imsg.textContent = 'generating...';
  const r = await fetch(`${api}/interpolate?${p}`), j = await r.json();
  if (!r.ok) { imsg.textContent = detail(j); return; }
  frames = j.frames_png_base64.map((b) => 'data:image/png;base64,' + b);  // made once
  slider.max = frames.length - 1; slider.value = 0; slider.disabled = false;
  imsg.textContent = ''; showFrame();
});
function showFrame() {
  frame.src = frames[+slider.value];
  document.getElementById('flabel').textContent = `frame ${+slider.value + 1} of ${frames.length}`;
}
slider.addEventListener('input', showFrame);
"""
