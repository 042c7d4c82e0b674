"""The HTML page of a comparison, made from ``roadkd evaluate``'s JSON report.

QGIS's Results Viewer lists an algorithm's HTML outputs and opens them, so the scores stay
in reach after the dialog is closed. No QGIS import here, so that the page can be tested
without QGIS. Settings and inputs are listed as the report holds them, whatever roadkd
adds to them later.
"""

import html

#: (report key, name, what it says) of the scores, in the order the page shows them.
SCORES = [
    ("apls", "APLS", "path lengths between places agree (harmonic mean of both directions)"),
    ("apls_gt_to_prop", "APLS truth → detected", "routes of the truth found in the detection"),
    ("apls_prop_to_gt", "APLS detected → truth", "routes of the detection found in the truth"),
    ("topo_precision", "TOPO precision", "detected roads reachable as in the truth"),
    ("topo_recall", "TOPO recall", "truth roads reachable as in the detection"),
    ("topo_f1", "TOPO F1", "harmonic mean of TOPO precision and recall"),
    ("length_precision", "Length precision", "share of the detected length near a truth road"),
    ("length_recall", "Length recall", "share of the truth length near a detected road"),
    ("length_f1", "Length F1", "harmonic mean of length precision and recall"),
]

#: (report key, name) of the lengths, in km.
LENGTHS = [
    ("truth_km", "Truth"),
    ("pred_km", "Detected"),
    ("missed_km", "Missed (truth with no detected road nearby)"),
    ("false_km", "False (detected with no truth road nearby)"),
]

STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.3em; } h2 { font-size: 1.1em; margin-top: 1.5em; }
table { border-collapse: collapse; margin-top: 0.5em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.7em; text-align: left; }
td.value { text-align: right; font-variant-numeric: tabular-nums; }
td.note { color: #555; }
"""


def _flatten(values, prefix=""):
    """Nested dictionaries as (dotted key, value) rows."""
    rows = []
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows += _flatten(value, f"{name}.")
        else:
            rows.append((name, value))
    return rows


def _table(header, rows):
    """An HTML table of already escaped cells; a cell may be (text, css class)."""
    head = "".join(f"<th>{cell}</th>" for cell in header)
    body = []
    for row in rows:
        cells = []
        for cell in row:
            text, css = cell if isinstance(cell, tuple) else (cell, "")
            cells.append(f'<td class="{css}">{text}</td>' if css else f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def html_report(report, truth_name, pred_name):
    """The comparison as a standalone HTML page.

    Args:
        report: ``roadkd evaluate --truth --pred --out``'s JSON, as a dict.
        truth_name: the reference layer's name in the project.
        pred_name: the detected layer's name in the project.
    """
    e = html.escape
    scores = [
        (e(name), (f"{report[key]:.3f}", "value"), (e(note), "note"))
        for key, name, note in SCORES
        if key in report
    ]
    truth_km = report.get("truth_km") or 0.0
    lengths = []
    for key, name in LENGTHS:
        if key in report:
            share = f"{report[key] / truth_km:.0%} of the truth" if truth_km else ""
            lengths.append((e(name), (f"{report[key]:.3f}", "value"), (e(share), "note")))
    inputs = [(e(str(k)), e(str(v))) for k, v in _flatten(report.get("inputs", {}))]
    settings = [(e(str(k)), e(str(v))) for k, v in _flatten(report.get("settings", {}))]
    title = f"{e(pred_name)} compared with {e(truth_name)}"
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html><head><meta charset="utf-8">',
            f"<title>{title}</title><style>{STYLE}</style></head><body>",
            f"<h1>Roads: {title}</h1>",
            "<h2>Scores (0 to 1, higher is better)</h2>",
            _table(["Score", "Value", "What it measures"], scores),
            "<h2>Road length (km)</h2>",
            _table(["Roads", "km", ""], lengths),
            "<h2>Inputs</h2>",
            _table(["Input", "Value"], inputs),
            "<h2>Settings (distances in metres)</h2>",
            _table(["Setting", "Value"], settings),
            "</body></html>",
        ]
    )
