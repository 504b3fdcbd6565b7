"""Where each spider's job goes (pure): least busy node first, one job of a spider at a time."""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def busy_spiders(active: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
    """{spider: [node URLs where it is pending or running]} from {node URL: active spiders}."""
    busy: dict[str, list[str]] = {}
    for url, spiders in active.items():
        for spider in sorted(set(spiders)):
            busy.setdefault(spider, []).append(url)
    return busy


class Placement:
    """Hands out nodes for new jobs: the fewest running + pending jobs first (every project on
    the node, as its daemonstatus counts them), counting the jobs placed by this run; a tie goes
    to the node listed first."""

    def __init__(self, loads: Mapping[str, int]) -> None:
        self.order = list(loads)
        self.loads = dict(loads)

    def __bool__(self) -> bool:
        return bool(self.loads)

    def next(self) -> str:
        """The node the next job goes to (without placing it). KeyError when no node is left."""
        if not self.loads:
            raise KeyError("no node left")
        return min(self.loads, key=lambda url: (self.loads[url], self.order.index(url)))

    def placed(self, url: str) -> None:
        self.loads[url] += 1

    def drop(self, url: str) -> None:
        """A node that refused a job takes no more in this run."""
        self.loads.pop(url, None)
