"""Draw the report as one self-contained HTML page: inline CSS, inline SVG charts, no script, no font, no network.

Every value that came from the chain or the store is escaped: a participant chooses its CID string and an owner its
strategy string, so the page treats them as text, never as markup.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from html import escape
from pathlib import Path
from typing import Any

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d2433;background:#f6f7f9}
main{max-width:1200px;margin:0 auto;padding:20px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}
.card{background:#fff;border:1px solid #dde1e7;border-radius:8px;padding:12px 16px;margin:8px 0}
.badge{display:inline-block;padding:2px 8px;border-radius:10px;font-weight:600;font-size:12px}
.OK,.ok,.included{background:#e3f5e8;color:#17642f}.MISMATCH,.mismatch{background:#fde2e1;color:#9c1c14}
.UNVERIFIED,.unverified,.empty{background:#fff2cc;color:#7a5a00}.FAILED,.OPEN,.INITIAL{background:#e8ecf2;color:#33415c}
.excluded{background:#f1e7fb;color:#5b2a86}.absent{color:#9aa3b1}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:0}dt{color:#5b6576}dd{margin:0}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px;word-break:break-all}
table{border-collapse:collapse;width:100%;background:#fff}th,td{border:1px solid #e3e6eb;padding:4px 6px;text-align:left}
th{background:#eef1f5;font-weight:600}td.cell{text-align:center;font-size:12px;white-space:nowrap}
td.cell.bad{outline:2px solid #c62828;outline-offset:-2px}
.lineage{display:flex;flex-wrap:wrap;gap:6px;align-items:stretch}
.link{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:6px 8px;min-width:130px}
.link.broken{border:2px solid #c62828;background:#fff5f5}.arrow{align-self:center;color:#9aa3b1}
.scroll{overflow-x:auto}.muted{color:#5b6576}svg text{font:11px system-ui,sans-serif;fill:#33415c}
@media print{body{background:#fff}.card,.link{break-inside:avoid}.scroll{overflow:visible}}
"""


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _short(text: str | None, keep: int = 10) -> str:
    if not text:
        return "-"
    return text if len(text) <= keep + 6 else f"{text[:keep]}…{text[-4:]}"


def _when(timestamp: int | None) -> str:
    if timestamp is None:
        return "-"
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _task(report: dict[str, Any]) -> str:
    task, limits = report["task"], report["task"]["limits"]
    changes = "".join(
        f"<br><span class='muted'>→ {_e(c['aggregator'])} (block {_e(c['block'])})</span>"
        for c in task["aggregator_changes"]
    )
    rows = [
        ("task", task["task_id"]),
        ("contract", report["contract"]),
        ("chain id", report["chain_id"]),
        ("owner", task["owner"]),
        ("strategy", task["strategy"]),
        ("quorum", task["quorum"]),
        ("round duration", f"{task['round_duration']} s"),
        ("grace period", f"{limits['grace_period']} s"),
        ("sample cap", limits["max_samples"] or "none"),
        ("update limit", f"{limits['max_update_bytes']} bytes"),
        ("clients per round", limits["clients_per_round"] or "all"),
        ("created", f"block {task['created_block']}, {_when(report['created_time'])}"),
    ]
    items = "".join(f"<dt>{_e(k)}</dt><dd class='mono'>{_e(v)}</dd>" for k, v in rows)
    aggregator = f"<dt>aggregator</dt><dd class='mono'>{_e(task['aggregator'])}{changes}</dd>"
    return f"<section class='card' id='task'><dl>{items}{aggregator}</dl></section>"


def _lineage(report: dict[str, Any]) -> str:
    links = []
    for link in report["lineage"]:
        verdict = link["verdict"]
        metric = link.get("metric")
        value = f"<br>{_e(metric['name'])} {metric['value']:.4g}" if metric else ""
        links.append(
            f"<div class='link{' broken' if verdict == 'MISMATCH' else ''}' data-round='{_e(link['round'])}' "
            f"title='{_e(link['reason'])}'><b>{'initial' if link['round'] == 0 else 'round ' + str(link['round'])}</b> "
            f"<span class='badge {_e(verdict)}'>{_e(verdict)}</span><br><code>{_e(_short(link['digest']))}</code>"
            f"<br><code>{_e(_short(link['cid'], 12))}</code>{value}</div>"
        )
    return "<div class='lineage' id='lineage'>" + "<span class='arrow'>→</span>".join(links) + "</div>"


def _cell(cell: dict[str, Any] | None) -> str:
    if cell is None:
        return "<td class='cell absent' title='absent'>·</td>"
    outcome = cell["outcome"]
    label = "✓" if outcome == "included" else outcome
    kind = "included" if outcome == "included" else "absent" if outcome == "pending" else "excluded"
    bad = " bad" if cell["check"] in ("mismatch", "unverified") else ""
    title = f"{outcome}; {cell['samples']} samples claimed; weight {cell['weight']:.4f}"
    title += f"; audit: {cell['check']} {cell['note']}" if cell["check"] else ""
    return f"<td class='cell {kind}{bad}' data-check='{_e(cell['check'] or '')}' title='{_e(title)}'>{_e(label)}</td>"


def _matrix(report: dict[str, Any]) -> str:
    matrix = report["matrix"]
    head = "".join(f"<th data-round='{_e(r)}'>{_e(r)}</th>" for r in matrix["rounds"])
    rows = "".join(
        f"<tr data-participant='{_e(p)}'><th class='mono'>{_e(_short(p, 10))}</th>"
        + "".join(_cell(matrix["cells"][p].get(str(r))) for r in matrix["rounds"])
        + "</tr>"
        for p in matrix["participants"]
    )
    return (
        "<div class='scroll'><table id='matrix'><thead><tr><th>participant \\ round</th>"
        f"{head}</tr></thead><tbody>{rows}</tbody></table></div>"
        "<p class='muted'>✓ included · a reason: excluded, with that reason · ·: absent. Hover a cell for the claimed "
        "samples, the effective weight and the audit's check; a red frame marks an outcome the audit refutes.</p>"
    )


def _timeline(report: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr class='{_e((r['verdict'] or {}).get('verdict', r['status'].upper()))}'><td>{_e(r['round'])}</td>"
        f"<td>{_e(r['timeline']['opened_block'])} · {_e(_when(r['timeline']['opened_time']))}</td>"
        f"<td>{len(r['submissions'])} (blocks {_e(_span(r['timeline']['submission_blocks']))})</td>"
        f"<td>{_e(r['status'])}</td><td>{_e(r['timeline']['closed_block'] or '-')} · "
        f"{_e(_when(r['timeline']['closed_time']))}</td>"
        f"<td><span class='badge {_e((r['verdict'] or {}).get('verdict', ''))}'>"
        f"{_e((r['verdict'] or {}).get('verdict', '-'))}</span> {_e((r['verdict'] or {}).get('reason', ''))}</td></tr>"
        for r in report["rounds"]
    )
    return (
        "<div class='scroll'><table id='timeline'><thead><tr><th>round</th><th>opened (block · time)</th>"
        "<th>submissions</th><th>status</th><th>closed (block · time)</th><th>verification</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></div>"
    )


def _span(blocks: list[int]) -> str:
    return "-" if not blocks else f"{min(blocks)}–{max(blocks)}" if len(blocks) > 1 else str(blocks[0])


def _bars(report: dict[str, Any]) -> str:
    """Gas per round: submissions (all of them) and the closing transaction, as stacked bars."""
    rounds = report["rounds"]
    if not rounds:
        return "<p class='muted'>no rounds yet</p>"
    totals = [r["gas"]["submissions"] + (r["gas"]["close"] or 0) for r in rounds]
    top = max(totals) or 1
    width, height, pad = max(320, 24 * len(rounds) + 60), 180, 40
    step = (width - pad - 10) / len(rounds)
    parts = []
    for i, r in enumerate(rounds):
        x = pad + i * step
        sub_h = (height - 30) * r["gas"]["submissions"] / top
        close_h = (height - 30) * (r["gas"]["close"] or 0) / top
        parts.append(
            f"<rect x='{x:.1f}' y='{height - 20 - sub_h:.1f}' width='{step * 0.7:.1f}' height='{sub_h:.1f}' "
            f"fill='#6c8ebf'><title>round {r['round']}: submissions {r['gas']['submissions']} gas</title></rect>"
            f"<rect x='{x:.1f}' y='{height - 20 - sub_h - close_h:.1f}' width='{step * 0.7:.1f}' "
            f"height='{close_h:.1f}' fill='#d79b00'><title>round {r['round']}: close {r['gas']['close']} gas</title></rect>"
        )
        if len(rounds) <= 30 or i % max(1, len(rounds) // 20) == 0:
            parts.append(f"<text x='{x:.1f}' y='{height - 6}'>{r['round']}</text>")
    parts.append(f"<text x='2' y='12'>{top:,} gas</text>")
    return (
        f"<svg id='gas' viewBox='0 0 {width} {height}' width='100%' height='{height}' role='img' "
        f"aria-label='gas per round'>{''.join(parts)}</svg>"
        "<p class='muted'>blue: all submissions of the round; orange: finalize or fail.</p>"
    )


def _curve(report: dict[str, Any]) -> str:
    points = [(link["round"], link["metric"]) for link in report["lineage"] if link.get("metric")]
    if len(points) < 2:
        return ""
    values = [m["value"] for _, m in points]
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    width, height, pad = 600, 200, 40
    last = max(r for r, _ in points) or 1
    xy = [
        (pad + (width - pad - 10) * r / last, 10 + (height - 40) * (1 - (v - low) / span))
        for (r, _), v in zip(points, values, strict=True)
    ]
    path = " ".join(f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}" for i, (x, y) in enumerate(xy))
    dots = "".join(f"<circle cx='{x:.1f}' cy='{y:.1f}' r='3' fill='#2b6cb0'/>" for x, y in xy)
    name = points[0][1]["name"]
    return (
        f"<h2>Learning curve ({_e(name)}, evaluated locally)</h2><svg id='curve' viewBox='0 0 {width} {height}' "
        f"width='100%' height='{height}'><path d='{path}' fill='none' stroke='#2b6cb0' stroke-width='2'/>{dots}"
        f"<text x='2' y='14'>{high:.4g}</text><text x='2' y='{height - 24}'>{low:.4g}</text>"
        f"<text x='{pad}' y='{height - 6}'>round 0</text><text x='{width - 60}' y='{height - 6}'>round {last}</text></svg>"
    )


def render_html(report: dict[str, Any]) -> str:
    """The whole page, self-contained."""
    audit = report["audit"]
    status = audit["status"]
    closed = sum(r["status"] != "open" for r in report["rounds"])
    summary = (
        f"{audit['verified_rounds']} of {closed} closed rounds re-derived bit for bit; "
        f"{sum(1 for r in report['rounds'] if (r['verdict'] or {}).get('verdict') == 'MISMATCH')} mismatched"
    )
    title = f"fedledger audit: task {report['task']['task_id']}"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>{_e(title)}</title><style>{CSS}</style></head>
<body><main>
<h1>{_e(title)} <span class="badge {_e(status)}" id="status">{_e(status.upper())}</span></h1>
<p id="summary">{_e(summary)}. Built from the chain and the content store alone.</p>
<h2>Task</h2>{_task(report)}
<h2>Lineage</h2>{_lineage(report)}
<h2>Contribution matrix</h2>{_matrix(report)}
<h2>Rounds</h2>{_timeline(report)}
<h2>Gas per round</h2>{_bars(report)}
{_curve(report)}
<h2>How to check this yourself</h2>
<div class="card" id="check"><p>Anyone can re-run this audit from the chain and IPFS alone:</p>
<pre><code>{_e(report["verify_command"])}</code></pre></div>
</main></body></html>
"""


def write_report(report: dict[str, Any], directory: Path) -> list[Path]:
    """Write ``index.html`` and its JSON twin ``index.json`` into ``directory`` atomically (a watcher never shows
    half a page)."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in (
        ("index.json", json.dumps(report, indent=2, sort_keys=True) + "\n"),
        ("index.html", render_html(report)),
    ):
        target = directory / name
        tmp = target.with_suffix(target.suffix + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)
        written.append(target)
    return written
