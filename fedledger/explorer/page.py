"""Draw the report as one self-contained HTML page: inline CSS, inline SVG charts, no script, no font, no network.

Every value that came from the chain or the store is escaped: a participant chooses its CID string and an owner its
strategy string, so the page treats them as text, never as markup.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from html import escape
from pathlib import Path
from typing import Any

from fedledger.files import write_atomic
from fedledger.rules.reasons import Reason

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
th{background:#eef1f5;font-weight:600}#matrix td{text-align:center;font-size:12px;white-space:nowrap}
#matrix td.bad{outline:2px solid #c62828;outline-offset:-2px}
.lineage{display:flex;flex-wrap:wrap;gap:6px;align-items:stretch}
.link{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:6px 8px;min-width:130px}
.link.broken{border:2px solid #c62828;background:#fff5f5}.arrow{align-self:center;color:#9aa3b1}
.scroll{overflow-x:auto}.muted{color:#5b6576}svg text{font:11px system-ui,sans-serif;fill:#33415c}
.full{display:inline-block;max-width:14ch;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;
vertical-align:bottom;user-select:all;word-break:normal}.failed{background:#e8ecf2;color:#33415c}
@media print{body{background:#fff}.card,.link{break-inside:avoid}.scroll{overflow:visible}}
"""


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _full(text: str | None) -> str:
    """A long value (CID, digest, address, transaction hash) whole in the page, shortened on screen by CSS only:
    one click selects all of it, copying copies all of it, hovering shows all of it."""
    if not text:
        return "-"
    return f"<code class='full' title='{_e(text)}'>{_e(text)}</code>"


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
        *_privacy_rows(report),
    ]
    items = "".join(f"<dt>{_e(k)}</dt><dd class='mono'>{_e(v)}</dd>" for k, v in rows)
    aggregator = f"<dt>aggregator</dt><dd class='mono'>{_e(task['aggregator'])}{changes}</dd>"
    return f"<section class='card' id='task'><dl>{items}{aggregator}</dl></section>"


def _privacy_rows(report: dict[str, Any]) -> list[tuple[str, object]]:
    """A private task's settings and the privacy loss so far (epsilon at delta, against its budget)."""
    privacy = report["task"].get("privacy")
    if not privacy:
        return []
    if not privacy.get("usable", True):
        return [("privacy", f"unusable params {privacy.get('params')}: {privacy.get('error')}")]
    setting = f"secure aggregation, threshold {privacy['threshold']}, clip {privacy['clip']}"
    rows: list[tuple[str, object]] = [("privacy", f"{setting}, scale 2^{privacy['scale_bits']}")]
    dp = privacy.get("dp")
    if dp:
        spent = [r["private"]["epsilon_spent"] for r in report["rounds"] if r.get("private")]
        epsilon = spent[-1] if spent and spent[-1] is not None else 0.0
        budget = dp.get("epsilon_budget")
        rows.append(
            (
                "ε spent",
                f"{epsilon:.3g} at δ = {dp['delta']} after {len(spent)} rounds"
                + (f" (budget {budget})" if budget else " (no budget)"),
            )
        )
        rows.append(("noise multiplier", dp["noise"]))
    return rows


def _lineage(report: dict[str, Any]) -> str:
    links = []
    for link in report["lineage"]:
        verdict = link["verdict"]
        metric = link.get("metric")
        value = f"<br>{_e(metric['name'])} {metric['value']:.4g}" if metric else ""
        links.append(
            f"<div class='link{' broken' if verdict == 'MISMATCH' else ''}' data-round='{_e(link['round'])}' "
            f"title='{_e(link['reason'])}'><b>{'initial' if link['round'] == 0 else 'round ' + str(link['round'])}</b> "
            f"<span class='badge {_e(verdict)}'>{_e(verdict)}</span><br>{_full(link['digest'])}"
            f"<br>{_full(link['cid'])}{value}</div>"
        )
    return "<div class='lineage' id='lineage'>" + "<span class='arrow'>→</span>".join(links) + "</div>"


def _cell(cell: dict[str, Any] | None, round_failed: bool) -> str:
    if cell is None:
        return "<td class='absent' title='absent'>·</td>"
    outcome, score = cell["outcome"], cell.get("score")
    label = "✓" if outcome == Reason.INCLUDED else outcome
    label += f" {score:.3g}" if outcome == Reason.OUTLIER and score is not None else ""
    kinds = {Reason.INCLUDED.value: "included", "pending": "absent", "round failed": "failed"}
    kind = kinds.get(outcome, "excluded")
    bad = " bad" if cell["check"] in ("mismatch", "unverified") else ""
    title = ("round failed; " if round_failed and outcome != "round failed" else "") + outcome
    title += f"; {cell['samples']} samples claimed; weight {cell['weight']:.4f}"
    title += f"; score {score!r}" if score is not None else ""
    title += f"; audit: {cell['check']} {cell['note']}".rstrip() if cell["check"] else ""
    title += f"; tx {cell['tx_hash']}" if cell.get("tx_hash") else ""
    check = f" data-check='{_e(cell['check'])}'" if cell["check"] and cell["check"] != "ok" else ""
    return f"<td class='{kind}{bad}'{check} title='{_e(title)}'>{_e(label)}</td>"


def _matrix(report: dict[str, Any]) -> str:
    matrix = report["matrix"]
    failed = {r["round"] for r in report["rounds"] if r["status"] == "failed"}
    head = "".join(f"<th data-round='{_e(r)}'>{_e(r)}</th>" for r in matrix["rounds"])
    rows = "".join(
        f"<tr data-participant='{_e(p)}'><th>{_full(p)}</th>"
        + "".join(_cell(matrix["cells"][p].get(str(r)), r in failed) for r in matrix["rounds"])
        + "</tr>"
        for p in matrix["participants"]
    )
    return (
        "<div class='scroll'><table id='matrix'><thead><tr><th>participant \\ round</th>"
        f"{head}</tr></thead><tbody>{rows}</tbody></table></div>"
        "<p class='muted'>✓ included · a reason: excluded, with that reason · outlier and a number: rejected by "
        "Krum or Multi-Krum, with its Krum score as the audit recomputes it (the sum of squared distances to its "
        "nearest updates: the rule keeps the lowest, so an attacker scores far above the honest updates it left "
        "out) · round failed: the round closed without recording outcomes · pending: the round is open · ·: absent. "
        "Hover a cell for the claimed samples, the effective weight, the score, the audit's check and the "
        "submission's transaction hash; a red frame marks an outcome the audit refutes. index.json holds every "
        "value in full.</p>"
    )


def _timeline(report: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr class='{_e((r['verdict'] or {}).get('verdict', r['status'].upper()))}' data-round='{_e(r['round'])}'>"
        f"<td>{_e(r['round'])}</td>"
        f"<td>{_e(r['timeline']['opened_block'])} · {_e(_when(r['timeline']['opened_time']))}<br>"
        f"{_full(r['timeline'].get('opened_tx'))}</td>"
        f"<td>{len(r['submissions'])} (blocks {_e(_span(r['timeline']['submission_blocks']))})</td>"
        f"<td>{_e(r['status'])}</td><td class='close'>{_e(r['timeline']['closed_block'] or '-')} · "
        f"{_e(_when(r['timeline']['closed_time']))}<br>{_full(r['timeline'].get('close_tx'))}</td>"
        f"<td><span class='badge {_e((r['verdict'] or {}).get('verdict', ''))}'>"
        f"{_e((r['verdict'] or {}).get('verdict', '-'))}</span> {_e((r['verdict'] or {}).get('reason', ''))}</td></tr>"
        for r in report["rounds"]
    )
    return (
        "<div class='scroll'><table id='timeline'><thead><tr><th>round</th><th>opened (block · time · tx)</th>"
        "<th>submissions</th><th>status</th><th>closed (block · time · tx)</th><th>verification</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></div>"
    )


def _span(blocks: list[int]) -> str:
    return "-" if not blocks else f"{min(blocks)}–{max(blocks)}" if len(blocks) > 1 else str(blocks[0])


def _ticks(top: int) -> list[int]:
    """Gridlines from 0 in steps of 1, 2 or 5 x 10^k, about four of them, the last at or above ``top``."""
    raw = max(top / 4, 1.0)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    return [step * i for i in range(max(1, math.ceil(top / step)) + 1)]


def _bars(report: dict[str, Any]) -> str:
    """Gas per round: submissions (all of them) and the closing transaction, as stacked bars on labelled axes."""
    rounds = report["rounds"]
    if not rounds:
        return "<p class='muted'>no rounds yet</p>"
    ticks = _ticks(max(r["gas"]["submissions"] + (r["gas"]["close"] or 0) for r in rounds))
    axis_top = ticks[-1]
    pad = 22 + 7 * len(f"{axis_top:,}")  # room for the y axis title and its longest tick label
    width = min(1160, max(360, 24 * len(rounds) + pad + 10))
    height, top, bottom = 210, 10, 176  # the plot spans y = top .. bottom
    step = (width - pad - 10) / len(rounds)
    every = max(1, math.ceil(28 / step))  # label every round while they fit, else every k-th

    def y(gas: float) -> float:
        return bottom - (bottom - top) * gas / axis_top

    parts = [
        f"<line x1='{pad}' x2='{width - 10}' y1='{y(t):.1f}' y2='{y(t):.1f}' stroke='#e3e6eb'/>"
        f"<text class='ytick' x='{pad - 4}' y='{y(t) + 4:.1f}' text-anchor='end'>{t:,}</text>"
        for t in ticks
    ]
    for i, r in enumerate(rounds):
        x, gas = pad + i * step, r["gas"]
        sub_top, close_top = y(gas["submissions"]), y(gas["submissions"] + (gas["close"] or 0))
        parts.append(
            f"<rect x='{x:.1f}' y='{sub_top:.1f}' width='{step * 0.7:.1f}' height='{bottom - sub_top:.1f}' "
            f"fill='#6c8ebf'><title>round {r['round']}: submissions {gas['submissions']:,} gas</title></rect>"
            f"<rect x='{x:.1f}' y='{close_top:.1f}' width='{step * 0.7:.1f}' height='{sub_top - close_top:.1f}' "
            f"fill='#d79b00'><title>round {r['round']}: close {gas['close'] or 0:,} gas</title></rect>"
        )
        if i % every == 0:
            parts.append(
                f"<text class='xtick' x='{x + step * 0.35:.1f}' y='{bottom + 14}' text-anchor='middle'>"
                f"{_e(r['round'])}</text>"
            )
    parts.append(
        f"<line x1='{pad}' x2='{pad}' y1='{top}' y2='{bottom}' stroke='#33415c'/>"
        f"<line x1='{pad}' x2='{width - 10}' y1='{bottom}' y2='{bottom}' stroke='#33415c'/>"
        f"<text class='axis' x='{(pad + width) / 2:.0f}' y='{height - 4}' text-anchor='middle'>round</text>"
        f"<text class='axis' transform='rotate(-90)' x='{-(top + bottom) / 2:.0f}' y='12' "
        "text-anchor='middle'>gas</text>"
    )
    return (
        f"<svg id='gas' viewBox='0 0 {width} {height}' width='100%' style='max-width:{width}px' role='img' "
        f"aria-label='gas per round'>{''.join(parts)}</svg>"
        "<p class='muted'>blue: all submissions of the round; orange: finalize or fail. Hover a bar for its "
        "gas.</p>"
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


def _check(report: dict[str, Any]) -> str:
    """The command that re-runs this audit, or, for a chain that lived in-process, why there is none."""
    if not report.get("in_process_chain"):
        return (
            "<p>Anyone can re-run this audit from the chain and IPFS alone:</p>"
            f"<pre><code>{_e(report['verify_command'])}</code></pre>"
        )
    return (
        "<p>This chain lived in-process: an embedded chain (<code>pyrevm</code>) inside the process that wrote "
        "this page, such as <code>fedledger demo</code>. It ended with that process, so there is no chain left to "
        "re-run this audit against, and no command here could do it. The verdicts above were computed by that "
        "process, from that chain and its content store, before it ended: this page records them, but nobody can "
        "re-check them against that chain any more.</p>"
        "<p>To audit a federation yourself, run one on a chain that outlives its processes, a local devnet, and "
        "audit it (the README's <i>Run a local devnet</i> walkthrough):</p>"
        "<pre><code>fedledger devnet up\n"
        "fedledger task create --participants 1,2 --quorum 2 --round-duration 600\n"
        "fedledger node train --task 1 --account 1\n"
        "fedledger node train --task 1 --account 2\n"
        "fedledger aggregate --task 1\n"
        "fedledger audit verify --task 1\n"
        "fedledger audit report --task 1 --out audit/</code></pre>"
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
<div class="card" id="check">{_check(report)}</div>
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
        write_atomic(target, text.encode("utf-8"))
        written.append(target)
    return written
