"""Drawing a lineage graph: a terminal tree, JSON, Graphviz dot, Mermaid, SVG, HTML.

Versions and runs look different everywhere: versions are ``name:vN (type)``
notes, runs are rounded boxes labelled with their job type and name.  A version
derived from another (staged from it) is joined to it by a dashed "derived" arrow.
"""

import html
import json
import shutil
import subprocess

from artfs.errors import ArtfsError
from artfs.lineage.graph import Graph
from artfs.units import human

FORMATS = ("tree", "json", "dot", "mermaid", "svg", "html")
TREE_FILES = 8  # files listed per edge in the terminal tree


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def label(node: dict) -> str:
    if node["kind"] == "version":
        aliases = [a for a in node["aliases"] if a != "latest"] + (
            ["latest"] if "latest" in node["aliases"] else []
        )
        tags = f" [{', '.join(aliases)}]" if aliases else ""
        return f"{node['id']} ({node['type']}){tags}"
    return f"run {node['run'][:8]} {node['job_type'] or '-'}: {node['name']}"


def render(graph: Graph, fmt: str) -> str:
    if fmt == "tree":
        return tree(graph)
    if fmt == "json":
        return json.dumps(graph.as_dict(), indent=2, default=str)
    if fmt == "dot":
        return dot(graph)
    if fmt == "mermaid":
        return mermaid(graph)
    if fmt == "svg":
        return svg(graph)
    if fmt == "html":
        return page(graph)
    raise ArtfsError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")


def tree(graph: Graph) -> str:
    """Upstream above the root (what it came from), downstream below (what came of it)."""
    lines = [label(graph.nodes[graph.root])]
    _branch(graph, graph.root, "up", "", lines, {graph.root})
    _branch(graph, graph.root, "down", "", lines, {graph.root})
    return "\n".join(lines)


def _branch(graph: Graph, node: str, way: str, indent: str, lines: list, seen: set) -> None:
    if way == "up":
        nexts = [(e["from"], e) for e in graph.edges if e["to"] == node]
    else:
        nexts = [(e["to"], e) for e in graph.edges if e["from"] == node]
    for i, (other, edge) in enumerate(nexts):
        last = i == len(nexts) - 1
        arrow = _verb(graph.nodes[other], edge, way)
        lines.append(f"{indent}{'└─' if last else '├─'} {arrow} {label(graph.nodes[other])}")
        child_indent = indent + ("   " if last else "│  ")
        files = sorted((edge.get("files") or {}).items())
        for path, nbytes in files[:TREE_FILES]:
            lines.append(f"{child_indent}  · {path} ({human(nbytes)} read)")
        if len(files) > TREE_FILES:
            rest = files[TREE_FILES:]
            lines.append(
                f"{child_indent}  · … {_count(len(rest), 'more file')} "
                f"({human(sum(n for _, n in rest))} read; --format json lists all)"
            )
        if other not in seen:
            _branch(graph, other, way, child_indent, lines, seen | {other})


def _verb(other: dict, edge: dict, way: str) -> str:
    if edge["kind"] == "derived":
        return "derived from" if way == "up" else "base of"
    if way == "up":
        return "made by" if other["kind"] == "run" else "read"
    return "read by" if other["kind"] == "run" else "made"


def _dot_id(node_id: str) -> str:
    return json.dumps(node_id)


def dot(graph: Graph) -> str:
    lines = [
        "digraph lineage {",
        "  rankdir=LR;",
        '  node [fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=9, color="#555555"];',
    ]
    for node in graph.nodes.values():
        text = label(node).replace('"', "'")
        if node["kind"] == "version":
            fill = "#ffe8a3" if node["id"] == graph.root else "#fff6d6"
            lines.append(
                f"  {_dot_id(node['id'])} [shape=note, style=filled, "
                f'fillcolor="{fill}", label="{text}"];'
            )
        else:
            fill = "#e8e8e8" if node["implicit"] else "#d6e8ff"
            lines.append(
                f'  {_dot_id(node["id"])} [shape=box, style="rounded,filled", '
                f'fillcolor="{fill}", label="{text}"];'
            )
    for edge in graph.edges:
        files = edge.get("files") or {}
        note = (
            f' [label="{_count(len(files), "file")}, {human(sum(files.values()))}"]'
            if files
            else ""
        )
        if edge["kind"] == "derived":
            note = ' [label="derived", style=dashed]'
        lines.append(f"  {_dot_id(edge['from'])} -> {_dot_id(edge['to'])}{note};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def mermaid(graph: Graph) -> str:
    ids = {node: f"n{i}" for i, node in enumerate(graph.nodes)}
    lines = ["flowchart LR"]
    for node_id, node in graph.nodes.items():
        text = label(node).replace('"', "'")
        shape = f'["{text}"]' if node["kind"] == "version" else f'("{text}")'
        lines.append(f"  {ids[node_id]}{shape}")
    for edge in graph.edges:
        files = edge.get("files") or {}
        note = f"|{_count(len(files), 'file')}|" if files else ""
        arrow = "-.->|derived|" if edge["kind"] == "derived" else f"-->{note}"
        lines.append(f"  {ids[edge['from']]} {arrow} {ids[edge['to']]}")
    return "\n".join(lines) + "\n"


def svg(graph: Graph) -> str:
    if shutil.which("dot") is None:
        raise ArtfsError(
            "drawing SVG needs Graphviz: apt-get install graphviz (or use --format dot|mermaid)"
        )
    result = subprocess.run(["dot", "-Tsvg"], input=dot(graph), capture_output=True, text=True)
    if result.returncode != 0:
        raise ArtfsError(f"graphviz failed: {result.stderr.strip()}")
    return result.stdout


def page(graph: Graph) -> str:
    root = html.escape(label(graph.nodes[graph.root]))
    body = svg(graph)
    return (
        f"<!doctype html>\n<html><head><meta charset='utf-8'><title>lineage of {root}"
        f"</title><style>body{{font-family:Helvetica,sans-serif;margin:2em}}"
        f"</style></head><body><h1>Lineage of {root}</h1>\n"
        f"<p>Notes are artifact versions, rounded boxes are runs (grey: implicit). "
        f"Arrows point from what was read to the run, and from the run to what it made; "
        f"dashed ones from a version to a version derived from it (staged from it)."
        f"</p>\n{body[body.find('<svg') :]}\n</body></html>\n"
    )
