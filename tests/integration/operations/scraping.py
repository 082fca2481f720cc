"""Reading a real server's /metrics the way Prometheus does."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True)
class Scrape:
    """One scrape: every sample by name and labels, and every family declared."""

    samples: dict[tuple[str, frozenset[tuple[str, str]]], float]
    families: dict[str, str]  # name -> type

    def value(self, name: str, **labels: str) -> float:
        """The sample's value; 0 for a labelled series nothing has touched yet."""
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def total(self, name: str, **labels: str) -> float:
        """The sum over every series of `name` whose labels include `labels`."""
        wanted = set(labels.items())
        return sum(
            value
            for (sample, found), value in self.samples.items()
            if sample == name and wanted <= found
        )

    def series_names(self) -> set[str]:
        """Every sample name a query may use, by each family's type."""
        names = set()
        for name, kind in self.families.items():
            if kind == "counter":
                names |= {f"{name}_total", f"{name}_created"}
            elif kind == "histogram":
                names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count", f"{name}_created"}
            else:
                names.add(name)
        return names


def parse(text: str) -> Scrape:
    samples = {}
    families = {}
    for family in text_string_to_metric_families(text):
        families[family.name] = family.type
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return Scrape(samples, families)


def scrape(url: str, token: str | None = None) -> Scrape:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    answer = httpx.get(f"{url}/metrics", headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse(answer.text)
