"""The lineage graph as a page shows it: expanded (every run and version) or
summarised (one node per job type and per artifact, as W&B's lineage view), laid out
by Graphviz as SVG whose nodes link to their pages.

Labels are escaped for dot here and Graphviz escapes them again for XML, so a run
named ``<script>`` is text in the picture.  Layouts are cached by their dot source:
the same graph is laid out once."""

import hashlib
import shutil
import subprocess
from collections import OrderedDict
from urllib.parse import quote

from artfs.errors import ArtfsError, UsageError
from artfs.lineage.graph import BOTH, DOWNSTREAM, UPSTREAM, Graph, lineage, run_lineage
from artfs.store.store import Store

EXPANDED, SUMMARY = "expanded", "summary"
MAX_NODES = 2000  # beyond this a layout takes too long to wait for: ask for less depth
EXPANDED_DEFAULT_NODES = 300  # a bigger graph opens summarised (the expanded one a click away)
LAYOUT_SECONDS = 60
_layouts: OrderedDict[str, str] = OrderedDict()
LAYOUTS_KEPT = 64


def build(
    store: Store,
    *,
    ref: str | None,
    run: str | None,
    direction: str,
    depth: int | None,
    implicit: bool,
) -> Graph:
    """The graph around a version (``ref``) or a run."""
    if direction not in (UPSTREAM, DOWNSTREAM, BOTH):
        raise UsageError(f"direction is {UPSTREAM}, {DOWNSTREAM} or {BOTH}, not {direction!r}")
    if run:
        return run_lineage(store, run, direction=direction, depth=depth, include_implicit=implicit)
    if not ref:
        raise UsageError("say whose lineage: ?ref=NAME:vN or ?run=ID")
    return lineage(store, ref, direction=direction, depth=depth, include_implicit=implicit)


def version_url(name: str, version: str) -> str:
    return f"/a/{quote(name)}/{quote(version)}"


def run_url(rid: str) -> str:
    return f"/run/{quote(rid)}"


def nodes_and_edges(graph: Graph, view: str) -> tuple[list[dict], list[dict]]:
    """(nodes, edges) to draw, each node with ``id``, ``label``, ``url``, ``kind``,
    ``root``; each edge with ``from``, ``to``, ``label``, ``dashed``."""
    if view == SUMMARY:
        return _summary(graph)
    if view != EXPANDED:
        raise UsageError(f"view is {EXPANDED} or {SUMMARY}, not {view!r}")
    nodes = [_expanded_node(n, n["id"] == graph.root) for n in graph.nodes.values()]
    edges = [
        {
            "from": e["from"],
            "to": e["to"],
            "label": _edge_note(e),
            "dashed": e["kind"] == "derived",
        }
        for e in graph.edges
    ]
    return nodes, edges


def _expanded_node(node: dict, root: bool) -> dict:
    if node["kind"] == "version":
        aliases = [a for a in node["aliases"] if a != "latest"]
        if "latest" in node["aliases"]:
            aliases.append("latest")
        extra = f"\n[{', '.join(aliases)}]" if aliases else ""
        return {
            "id": node["id"],
            "label": f"{node['id']}\n{node['type']}{extra}",
            "url": version_url(node["name"], node["version"]),
            "kind": "version",
            "root": root,
        }
    return {
        "id": node["id"],
        "label": f"{node['job_type'] or 'run'}\n{node['name']}",
        "url": run_url(node["run"]),
        "kind": "implicit" if node["implicit"] else "run",
        "root": root,
        "status": node["status"],
    }


def _edge_note(edge: dict) -> str:
    if edge["kind"] == "derived":
        return "derived"
    files = edge.get("files") or {}
    if not files:
        return ""
    return f"{len(files)} file{'s' if len(files) != 1 else ''}"


def _group(node: dict) -> str:
    return f"artifact:{node['name']}" if node["kind"] == "version" else f"job:{node['job_type']}"


def _summary(graph: Graph) -> tuple[list[dict], list[dict]]:
    """One node per artifact and per job type; an edge where any member's edge is, with
    how many it stands for.  Derived edges within an artifact are its version history."""
    groups: dict[str, dict] = {}
    root_group = _group(graph.nodes[graph.root])
    for node in graph.nodes.values():
        key = _group(node)
        group = groups.setdefault(key, {"members": 0, "node": node})
        group["members"] += 1
    nodes = [_summary_node(key, g, key == root_group) for key, g in groups.items()]
    counts: dict[tuple[str, str], list] = {}
    for e in graph.edges:
        a, b = _group(graph.nodes[e["from"]]), _group(graph.nodes[e["to"]])
        if a != b:
            seen = counts.setdefault((a, b), [0, e["kind"] == "derived"])
            seen[0] += 1
    edges = [
        {"from": a, "to": b, "label": f"×{n}" if n > 1 else "", "dashed": dashed}
        for (a, b), (n, dashed) in counts.items()
    ]
    return nodes, edges


def _summary_node(key: str, group: dict, root: bool) -> dict:
    node, n = group["node"], group["members"]
    if node["kind"] == "version":
        return {
            "id": key,
            "label": f"{node['name']}\n{node['type']} · {n} version{'s' if n != 1 else ''}",
            "url": f"/a/{quote(node['name'])}",
            "kind": "version",
            "root": root,
        }
    job = node["job_type"]
    return {
        "id": key,
        "label": f"{job or '(no job type)'}\n{n} run{'s' if n != 1 else ''}",
        "url": f"/runs?job_type={quote(job)}" if job else "/runs",
        "kind": "run",
        "root": root,
    }


def _q(text: str) -> str:
    """A dot string: quotes and backslashes escaped (a backslash would start one of
    Graphviz's own escapes), control characters dropped, lines as dot's centred ``\\n``."""
    clean = "".join(c for c in text if c == "\n" or c >= " ")
    return '"' + clean.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


STYLE = {
    "version": 'shape=note, style=filled, fillcolor="#fff3c4", color="#b8962e"',
    "run": 'shape=box, style="rounded,filled", fillcolor="#dbe9ff", color="#4a78c2"',
    "implicit": 'shape=box, style="rounded,filled,dashed", fillcolor="#eeeeee", color="#888888"',
}


def dot(nodes: list[dict], edges: list[dict]) -> str:
    ids = {n["id"]: f"n{i}" for i, n in enumerate(nodes)}
    lines = [
        "digraph lineage {",
        '  rankdir=LR; bgcolor="transparent"; nodesep=0.25; ranksep=0.5;',
        '  node [fontname="Helvetica", fontsize=11, margin="0.15,0.06"];',
        '  edge [fontname="Helvetica", fontsize=9, color="#667085", arrowsize=0.7];',
    ]
    for n in nodes:
        bold = ", penwidth=2.5" if n["root"] else ""
        lines.append(
            f"  {ids[n['id']]} [{STYLE[n['kind']]}{bold}, id={_q(ids[n['id']])}, "
            f"label={_q(n['label'])}, tooltip={_q(n['id'])}, URL={_q(n['url'])}, "
            f'target="_top"];'
        )
    for e in edges:
        attrs = (["style=dashed"] if e["dashed"] else []) + (
            [f"label={_q(e['label'])}"] if e["label"] else []
        )
        lines.append(f"  {ids[e['from']]} -> {ids[e['to']]} [{', '.join(attrs)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def svg(source: str) -> str:
    """The SVG element Graphviz lays out for a dot source (cached by its content)."""
    key = hashlib.blake2b(source.encode(), digest_size=16).hexdigest()
    if key in _layouts:
        _layouts.move_to_end(key)
        return _layouts[key]
    if shutil.which("dot") is None:
        raise ArtfsError("the graph needs Graphviz: apt-get install graphviz")
    try:
        done = subprocess.run(
            ["dot", "-Tsvg"],
            input=source,
            capture_output=True,
            text=True,
            timeout=LAYOUT_SECONDS,
        )
    except subprocess.TimeoutExpired:
        raise ArtfsError(
            "laying out this graph took over a minute; choose a smaller depth or the summary"
        ) from None
    if done.returncode != 0:
        raise ArtfsError(f"graphviz failed: {done.stderr.strip()}")
    text = done.stdout[done.stdout.find("<svg") :]
    _layouts[key] = text
    if len(_layouts) > LAYOUTS_KEPT:
        _layouts.popitem(last=False)
    return text
