"""The view ``scrapy status`` prints: nodes, their running and pending jobs with progress, the
claims (leases) in the shared state, and the last run of each spider from the run ledger.

``collect_nodes`` asks the nodes (async, over ``scrapyd.Scrapyd``); ``status_view`` and
``render_table`` are pure.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from envision_spiders.nodes.scrapyd import Node, Scrapyd
from envision_spiders.progress.figures import duration, parse_logged

RUN_FIELDS = ("job", "started_at", "finished_at", "finish_reason", "items", "errors", "clean")


async def collect_nodes(scrapyd: Scrapyd, urls: Iterable[str], tail_bytes: int) -> list[dict[str, Any]]:
    """Every node's counts and the project's jobs; a running job's progress from the last
    progress line in the tail of its log."""
    nodes = await scrapyd.survey(urls)
    running = [(node, job) for node in nodes for job in node.jobs.get("running", [])]
    tails = await asyncio.gather(*(scrapyd.log_tail(node.url, job.get("log_url"), tail_bytes) for node, job in running))
    progress = {(node.url, job["id"]): parse_logged(tail) if tail else None for (node, job), tail in zip(running, tails)}
    return [node_entry(node, progress) for node in nodes]


def node_entry(node: Node, progress: Mapping[tuple[str, str], Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "url": node.url, "answering": node.answering, "error": node.error, "node_name": node.node_name,
        # daemonstatus: every project on the node
        "pending": node.pending, "running": node.running, "finished": node.finished,
    }
    entry["running_jobs"] = [
        {"spider": job["spider"], "id": job["id"], "start_time": job.get("start_time"), "pid": job.get("pid"),
         "progress": progress.get((node.url, job["id"]))}
        for job in node.jobs.get("running", [])
    ]
    entry["pending_jobs"] = [{"spider": job["spider"], "id": job["id"]} for job in node.jobs.get("pending", [])]
    return entry


def last_runs(runs: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """{spider: its latest run} from the run ledger's rows (oldest first)."""
    latest: dict[str, dict[str, Any]] = {}
    for run in runs:
        latest[run["spider"]] = {key: run.get(key) for key in RUN_FIELDS}
    return dict(sorted(latest.items()))


def status_view(project: str, nodes: list[dict[str, Any]], claims: dict[str, dict[str, Any]],
                runs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        "project": project,
        "nodes": nodes,
        "answering": sum(1 for node in nodes if node["answering"]),
        "claims": claims,
        "last_runs": runs,
    }


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    cells = [list(header)] + [["-" if v is None else str(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells]


def _progress(progress: Mapping[str, Any] | None) -> str:
    if not progress:
        return "-"
    done = progress.get("processed")
    expected = progress.get("expected")
    figures = f"{done:,}/{expected:,}" if done is not None and expected is not None else (
        f"{done:,}" if done is not None else "")
    return f"{figures} ETA {progress.get('eta') or '?'}".strip()


def _expiry(lease: Mapping[str, Any]) -> str | None:
    seconds = lease.get("expires_in")
    if isinstance(seconds, (int, float)):
        return f"in {duration(seconds)}" if seconds >= 0 else f"expired {duration(-seconds)} ago"
    return lease.get("expires_at")


def render_table(view: Mapping[str, Any]) -> str:
    out = [f"Nodes ({view['answering']} of {len(view['nodes'])} answering), project {view['project']}"]
    out += _table(("url", "node", "answering", "running", "pending", "finished"), (
        (n["url"], n["node_name"], "yes" if n["answering"] else f"NO: {n['error']}",
         *((n["running"], n["pending"], n["finished"]) if n["answering"] else (None, None, None)))
        for n in view["nodes"]))
    if any(n["answering"] and n["error"] for n in view["nodes"]):
        out += [f"  {n['url']}: {n['error']}" for n in view["nodes"] if n["answering"] and n["error"]]
    jobs = [(n["url"], j) for n in view["nodes"] for j in n["running_jobs"]]
    out += ["", f"Running jobs ({len(jobs)})"]
    out += _table(("node", "spider", "job", "started", "progress"),
                  ((url, j["spider"], j["id"], j["start_time"], _progress(j["progress"])) for url, j in jobs))
    pending = [(n["url"], j) for n in view["nodes"] for j in n["pending_jobs"]]
    if pending:
        out += ["", f"Pending jobs ({len(pending)})"]
        out += _table(("node", "spider", "job"), ((url, j["spider"], j["id"]) for url, j in pending))
    out.append("")
    claims = view["claims"]
    if not claims:
        out.append("Claims: none")
    else:
        held = [(kind, row) for kind, entry in claims.items() for row in entry["held"]]
        done = ", ".join(f"{kind} {entry['done']:,}" for kind, entry in claims.items() if entry["done"])
        out.append(f"Claims ({len(held)} held" + (f"; done: {done})" if done else ")"))
        out += _table(("kind", "holder", "key", "expires"), (
            (kind, row.get("holder"), row.get("key"), _expiry(row)) for kind, row in held))
    out += ["", f"Last run per spider ({len(view['last_runs'])})"]
    out += _table(("spider", "job", "started", "finished", "reason", "items", "clean"), (
        (spider, r["job"], r["started_at"], r["finished_at"], r["finish_reason"], r["items"],
         "yes" if r["clean"] else "no")
        for spider, r in view["last_runs"].items()))
    return "\n".join(out)
