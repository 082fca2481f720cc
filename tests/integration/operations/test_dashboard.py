"""contrib/grafana/tidings.json queries only series that Tidings exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.integration.operations.conftest import Start
from tests.integration.operations.scraping import scrape

DASHBOARD = Path(__file__).parents[3] / "contrib" / "grafana" / "tidings.json"
SERIES = re.compile(r"\btidings_[a-z_]+\b")


def queries() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel["targets"]]


def test_every_series_the_dashboard_queries_is_exported(start: Start) -> None:
    server = start()
    exported = scrape(server.url, server.token).series_names()
    queried = {name for expr in queries() for name in SERIES.findall(expr)}
    assert len(queried) >= 10  # the dashboard covers every kind of work
    assert queried - exported == set()
    # And it charts every series Tidings exports, in one form or another.
    families = {name.removesuffix("_total").removesuffix("_bucket") for name in queried}
    declared = {name for name in exported if name.startswith("tidings_")}
    stems = {re.sub(r"_(total|created|bucket|sum|count)$", "", name) for name in declared}
    assert stems <= families | {f.removesuffix("_total") for f in families}
