"""The evaluation report: one JSON document and one self-contained HTML page.

The HTML has no external assets (styles inline, calibration curves as inline SVG) so that it can
be mailed or archived as one file and opened offline.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from childlink.risk.training import CountyData, RiskResult

#: Keys every model's entry in ``--json`` output carries.
SUMMARY_KEYS = ("auc", "ceiling_auc", "pr_auc", "brier", "ece")


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item"):
        return value.item()
    return value


def build_report(
    results: list[RiskResult], data: CountyData, versions: dict[str, str] | None = None
) -> dict[str, Any]:
    """The report document: split, and per risk and model the test metrics."""
    risks: dict[str, Any] = {}
    for result in results:
        risks[result.risk.value] = {
            "label_zh": result.risk.label_zh,
            "label_en": result.risk.label_en,
            "selected": result.selected,
            "version": (versions or {}).get(result.risk.value),
            "models": {kind: _plain(metrics) for kind, metrics in result.metrics.items()},
        }
    return {
        "split": {
            "train": data.split.train.isoformat(),
            "valid": data.split.valid.isoformat(),
            "test": data.split.test.isoformat(),
        },
        "children": data.children.height,
        "risks": risks,
    }


def summary(report: dict[str, Any]) -> dict[str, Any]:
    """Per risk and model, the headline figures (what ``risk evaluate --json`` prints)."""
    out: dict[str, Any] = {}
    for risk, block in report["risks"].items():
        out[risk] = {
            "selected": block["selected"],
            "version": block.get("version"),
            "models": {
                kind: {
                    key: metrics.get(key)
                    for key in (
                        *SUMMARY_KEYS,
                        "expected_auc",
                        "ceiling_expected_auc",
                        "ece_vs_true",
                        "positives",
                        "n",
                        "version",
                    )
                }
                | {
                    "precision_at_k": metrics["precision_at_k"],
                    "flagged_subgroups": {
                        column: sub["flagged"]
                        for column, sub in metrics["subgroups"]["by_column"].items()
                        if sub["flagged"]
                    },
                }
                for kind, metrics in block["models"].items()
            },
        }
    return out


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4f}"
    return html.escape(str(value))


def _svg_curve(points: list[dict[str, Any]]) -> str:
    """A calibration plot: predicted (x) vs observed (dots) and true (squares) rates."""
    if not points:
        return ""
    top = max(max(p["mean_predicted"], p["observed_rate"], p.get("mean_true", 0.0)) for p in points)
    top = top or 1.0
    size, pad = 260, 30

    def xy(x: float, y: float) -> tuple[float, float]:
        return pad + x / top * (size - 2 * pad), size - pad - y / top * (size - 2 * pad)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" '
        f'role="img" aria-label="calibration curve">',
        f'<rect x="0" y="0" width="{size}" height="{size}" fill="#fff" stroke="#ccc"/>',
    ]
    x0, y0 = xy(0, 0)
    x1, y1 = xy(top, top)
    parts.append(
        f'<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y1}" stroke="#999" stroke-dasharray="4"/>'
    )
    for p in points:
        cx, cy = xy(p["mean_predicted"], p["observed_rate"])
        parts.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="4" fill="#c0392b"/>')
        if "mean_true" in p:
            tx, ty = xy(p["mean_predicted"], p["mean_true"])
            parts.append(
                f'<rect x="{tx - 3:.1f}" y="{ty - 3:.1f}" width="6" height="6" fill="#2471a3"/>'
            )
    parts.append(
        f'<text x="{pad}" y="{size - 8}" font-size="10">predicted → (max {top:.3f})</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def render_html(report: dict[str, Any]) -> str:
    """The report as one self-contained HTML page (Chinese and English headings)."""
    body = [
        "<h1>风险模型评估报告 · Risk model evaluation</h1>",
        f"<p>Temporal split: train as of {report['split']['train']}, calibrate/select as of "
        f"{report['split']['valid']}, test as of {report['split']['test']} "
        f"(six-month outcome windows); {report['children']:,} children.</p>",
        "<p>Scores support, never replace, a worker's judgement. "
        "评分用于辅助而非取代工作人员的专业判断。</p>",
    ]
    for risk, block in report["risks"].items():
        body.append(
            f"<h2>{html.escape(block['label_zh'])} · {html.escape(block['label_en'])}"
            f" <small>({html.escape(risk)}; selected: {block['selected']}"
            f"{'; version ' + html.escape(block['version']) if block.get('version') else ''}"
            ")</small></h2>"
        )
        body.append(
            "<table><tr><th>model</th>"
            + "".join(
                f"<th>{k}</th>"
                for k in (
                    "auc",
                    "ceiling_auc",
                    "expected_auc",
                    "ceiling_expected_auc",
                    "pr_auc",
                    "brier",
                    "ece",
                    "positives",
                    "n",
                )
            )
            + "</tr>"
        )
        for kind, m in block["models"].items():
            body.append(
                f"<tr><td>{kind}</td>"
                + "".join(
                    f"<td>{_fmt(m.get(k))}</td>"
                    for k in (
                        "auc",
                        "ceiling_auc",
                        "expected_auc",
                        "ceiling_expected_auc",
                        "pr_auc",
                        "brier",
                        "ece",
                        "positives",
                        "n",
                        "version",
                    )
                )
                + "</tr>"
            )
        body.append("</table>")
        for kind, m in block["models"].items():
            body.append(
                f"<h3>{kind}</h3><div class='row'><div>{_svg_curve(m['calibration_curve'])}"
                "<p class='note'>red: observed rate; blue: generator's true rate; "
                "dashed: perfect calibration</p></div><div>"
            )
            body.append(
                "<table><tr><th>capacity</th><th>k</th><th>caught</th>"
                "<th>precision@k</th><th>recall@k</th></tr>"
            )
            for row in m["precision_at_k"]:
                body.append(
                    f"<tr><td>{row['share']:.0%}</td><td>{row['k']}</td>"
                    f"<td>{row['caught']}</td><td>{row['precision']:.4f}</td>"
                    f"<td>{row['recall']:.4f}</td></tr>"
                )
            body.append("</table>")
            sub = m["subgroups"]
            body.append(
                f"<p>Threshold {sub['threshold']:.4f} (top 5 %); overall recall "
                f"{sub['overall_recall']:.3f}.</p>"
            )
            body.append(
                "<table><tr><th>subgroup</th><th>group</th><th>n</th><th>positives</th>"
                "<th>recall</th><th>AUC</th><th>flag</th></tr>"
            )
            for column, block_sub in sub["by_column"].items():
                for row in block_sub["groups"]:
                    flag = row["flag"] or ""
                    cls = " class='flag'" if flag == "recall_gap" else ""
                    body.append(
                        f"<tr{cls}><td>{column}</td><td>{html.escape(row['group'])}</td>"
                        f"<td>{row['n']}</td><td>{row['positives']}</td>"
                        f"<td>{_fmt(row['recall'])}</td><td>{_fmt(row['auc'])}</td>"
                        f"<td>{flag}</td></tr>"
                    )
            body.append("</table></div></div>")
    style = (
        "body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px}"
        "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;"
        "padding:2px 6px;font-size:13px;text-align:right}.flag{background:#fde2e1}"
        ".row{display:flex;gap:2em;align-items:flex-start}.note{font-size:11px;color:#555}"
    )
    return (
        "<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'>"
        f"<title>Risk model evaluation</title><style>{style}</style></head><body>"
        + "\n".join(body)
        + "</body></html>\n"
    )


def write_report(report: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """Write ``evaluation.json`` and ``evaluation.html`` into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "evaluation.json"
    html_path = out_dir / "evaluation.html"
    json_path.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    html_path.write_text(render_html(report), encoding="utf-8")
    return json_path, html_path
