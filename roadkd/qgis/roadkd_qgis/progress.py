"""roadkd's progress lines (``--progress json``) as one percentage for a Processing bar.

roadkd writes one JSON object a line on stderr: a counted stage
(``{"event": "progress", "stage": "predict", "unit": "tile", "done": 12, "total": 40}``)
or the start of an uncounted one (``{"event": "stage", "stage": "stitch"}``). An algorithm
knows which stages its command goes through and how long each takes compared with the
others (its plan); a :class:`Meter` places every event on that plan and says when the bar
should move. No QGIS import here, so that the mapping can be tested without QGIS.
"""

import json

#: What the user reads for each stage roadkd reports.
LABELS = {
    "predict": "Detecting roads",
    "stitch": "Joining the blocks",
    "confidence": "Measuring confidence along the roads",
    "write": "Writing the layers",
    "vectorize": "Vectorising",
    "read": "Reading the layers",
    "length": "Matching road lengths",
    "graph": "Building the road graphs",
    "apls": "Scoring APLS",
    "topo": "Scoring TOPO",
    "errors": "Collecting missed and false roads",
    "from-vectors": "Writing training blocks",
    "train": "Training",
}

#: The stages of ``roadkd predict`` and their shares of its time: the tiles of inference
#: (with the blocks vectorised between them), then joining the blocks, sampling the
#: confidence along every feature and writing the layers.
PREDICT_PLAN = [("predict", 90), ("stitch", 4), ("confidence", 4), ("write", 2)]

#: The stages of ``roadkd evaluate --truth --pred`` and their shares of its time.
COMPARE_PLAN = [
    ("read", 10),
    ("length", 15),
    ("graph", 10),
    ("apls", 30),
    ("topo", 30),
    ("errors", 5),
]


def parse(line):
    """The progress event of a line roadkd wrote, or None for any other line."""
    if not line.startswith("{"):
        return None
    try:
        event = json.loads(line)
    except ValueError:
        return None
    if not isinstance(event, dict) or event.get("event") not in ("progress", "stage"):
        return None
    return event


class Meter:
    """Turns progress events into a percentage that only grows, and a line of text.

    The bar moves in whole points; the text changes when the bar moves (ending with the
    percentage) or a new stage begins, so that a log of the texts stays short.

    Args:
        plan: (stage, weight) in the order the command runs them; a stage's weight is its
            share of the run's time. Stages not in the plan change the text, not the bar.
        start, end: the part of the bar this command fills (a second command may fill
            the rest).
        labels: texts of stages that differ from :data:`LABELS` (e.g. "train":
            "Training the teachers").
    """

    def __init__(self, plan, start=0.0, end=100.0, labels=None):
        total = float(sum(weight for _, weight in plan)) or 1.0
        self.spans = {}
        before = 0.0
        for stage, weight in plan:
            self.spans[stage] = (before / total, weight / total)
            before += weight
        self.start, self.end = start, end
        self.labels = {**LABELS, **(labels or {})}
        self.percent = int(start)  # what the bar shows
        self.stage = None

    def update(self, event):
        """Take one event.

        Returns:
            (percent, text), each None when it does not change: the new percentage when
            the bar moved by at least a point, the text when the bar moved or a stage began.
        """
        stage = event.get("stage", "")
        text = self.labels.get(stage, stage)
        done, total = event.get("done"), event.get("total")
        fraction = 0.0
        if event.get("event") == "progress" and total:
            fraction = min(max(done / total, 0.0), 1.0)
            text += f": {done} of {total} {event.get('unit', '')}s"
        elif event.get("event") == "progress" and done:
            text += f": {done} {event.get('unit', '')}s"
        percent = self.percent
        if stage in self.spans:
            first, share = self.spans[stage]
            percent = int(self.start + (first + share * fraction) * (self.end - self.start))
        new_stage, self.stage = stage != self.stage, stage
        if percent > self.percent:
            self.percent = percent
            return percent, f"{text} ({percent} %)"
        return None, text if new_stage else None

    def finish(self, text="Done"):
        """Fill this command's part of the bar: (percent, text) as :meth:`update` returns."""
        if int(self.end) > self.percent:
            self.percent = int(self.end)
            return self.percent, f"{text} ({self.percent} %)"
        return None, None
