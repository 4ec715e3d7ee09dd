"""The lineage graph around a version: runs that made it, what they read, and onwards.

Nodes are versions (``name:vN``) and runs (``run:ID``).  An *output* edge goes
from a run to a version it committed; an *input* edge from a version to a run
that read it, with the files read and the bytes of each; a *derived* edge from
a version to one made from it (staged from it, or by ``new_draft()``), as the
newer version's record says (its ``base``).  Each run or derived step is one
level of ``depth``.  Implicit runs that
only read (a stray ``cat``) are left out unless asked for; implicit runs that
committed something are part of the story and always shown.
"""

from dataclasses import dataclass, field

from artfs.errors import ArtfsError
from artfs.store import runs as runs_mod
from artfs.store.names import parse_ref
from artfs.store.store import Store, Version

UPSTREAM, DOWNSTREAM, BOTH = "upstream", "downstream", "both"


@dataclass
class Graph:
    root: str
    nodes: dict[str, dict] = field(default_factory=dict)
    edges: list[dict] = field(default_factory=list)
    damage: list[str] = field(default_factory=list)  # records left out: they are damaged

    def as_dict(self) -> dict:
        return {"root": self.root, "nodes": list(self.nodes.values()), "edges": self.edges}


def version_id(name: str, number: int) -> str:
    return f"{name}:v{number}"


def run_id(rid: str) -> str:
    return f"run:{rid}"


class _Builder:
    def __init__(self, store: Store, include_implicit: bool, damage: list[str]):
        self.store = store
        self.damage = damage
        self.include_implicit = include_implicit
        self._edge_keys: set[tuple[str, str]] = set()
        self._by_base: dict[str, list[Version]] | None = None

    def version_node(self, graph: Graph, v: Version) -> str:
        node = version_id(v.name, v.number)
        graph.nodes.setdefault(
            node,
            {
                "id": node,
                "kind": "version",
                "name": v.name,
                "version": f"v{v.number}",
                "type": v.type,
                "aliases": v.aliases,
                "digest": v.digest,
                "size": v.size,
                "base": v.record.get("base"),
            },
        )
        return node

    def run_node(self, graph: Graph, record: dict) -> str:
        node = run_id(record["id"])
        graph.nodes.setdefault(
            node,
            {
                "id": node,
                "kind": "run",
                "run": record["id"],
                "name": record["name"],
                "job_type": record["job_type"],
                "status": record["status"],
                "implicit": bool(record.get("implicit")),
                "command": record["command"],
            },
        )
        return node

    def edge(self, graph: Graph, source: str, target: str, kind: str, files=None) -> None:
        if (source, target) in self._edge_keys:
            return
        self._edge_keys.add((source, target))
        edge = {"from": source, "to": target, "kind": kind}
        if files is not None:
            edge["files"] = files
        graph.edges.append(edge)

    def resolve(self, name: str, number: int) -> Version | None:
        try:
            return self.store.resolve(f"{name}:v{number}")
        except ArtfsError:
            return None  # removed since: the edge stays in the record, not in the picture

    def run(self, rid: str) -> dict | None:
        try:
            return runs_mod.get_run(self.store, rid)
        except ArtfsError:
            return None

    def inputs(self, rid: str) -> list[tuple[Version, dict]]:
        found = []
        for name, number, edge in runs_mod.run_inputs(self.store, rid, self.damage):
            version = self.resolve(name, number)
            if version is not None:
                found.append((version, edge["files"]))
        return found

    def outputs(self, rid: str) -> list[Version]:
        return [
            v
            for n, num, _ in runs_mod.run_edges(self.store, rid, "outputs", self.damage)
            if (v := self.resolve(n, num)) is not None
        ]

    def shown(self, record: dict) -> bool:
        return (
            self.include_implicit or not record.get("implicit") or bool(self.outputs(record["id"]))
        )

    def derived(self, version: Version) -> list[Version]:
        """The versions made from ``version``.  Nothing indexes versions by base, so every
        version record is read, once per graph."""
        if self._by_base is None:
            self._by_base = {}
            for name in self.store.artifact_names():
                for v in self.store.versions(name):
                    if v.record.get("base"):
                        self._by_base.setdefault(v.record["base"], []).append(v)
        return self._by_base.get(version.label, [])

    def base(self, version: Version) -> Version | None:
        label = version.record.get("base")
        try:
            return self.store.resolve(label) if label else None
        except ArtfsError:
            return None  # removed since: the record keeps the label, the picture drops it

    def up(self, graph: Graph, version: Version, depth: int | None) -> None:
        if depth == 0:
            return
        deeper = None if depth is None else depth - 1
        vnode = self.version_node(graph, version)
        record = self.run(version.run) if version.run else None
        if record is not None:
            rnode = self.run_node(graph, record)
            self.edge(graph, rnode, vnode, "output")
            for source, files in self.inputs(record["id"]):
                known = version_id(source.name, source.number) in graph.nodes
                self.edge(graph, self.version_node(graph, source), rnode, "input", files)
                if not known:
                    self.up(graph, source, deeper)
        base = self.base(version)
        if base is not None:
            known = version_id(base.name, base.number) in graph.nodes
            self.edge(graph, self.version_node(graph, base), vnode, "derived")
            if not known:
                self.up(graph, base, deeper)

    def down(self, graph: Graph, version: Version, depth: int | None) -> None:
        if depth == 0:
            return
        deeper = None if depth is None else depth - 1
        vnode = self.version_node(graph, version)
        for rid in runs_mod.consumers(self.store, version):
            record = self.run(rid)
            if record is None or not self.shown(record):
                continue
            rnode = self.run_node(graph, record)
            self.edge(graph, vnode, rnode, "input", self._files(rid, version))
            for made in self.outputs(rid):
                known = version_id(made.name, made.number) in graph.nodes
                self.edge(graph, rnode, self.version_node(graph, made), "output")
                if not known:
                    self.down(graph, made, deeper)
        for made in self.derived(version):
            known = version_id(made.name, made.number) in graph.nodes
            self.edge(graph, vnode, self.version_node(graph, made), "derived")
            if not known:
                self.down(graph, made, deeper)

    def _files(self, rid: str, version: Version) -> dict:
        for source, files in self.inputs(rid):
            if (source.name, source.number) == (version.name, version.number):
                return files
        return {}


def _check_direction(direction: str) -> None:
    if direction not in (UPSTREAM, DOWNSTREAM, BOTH):
        raise ArtfsError(f"direction must be {UPSTREAM}, {DOWNSTREAM} or {BOTH}")


def lineage(
    store: Store,
    ref: str,
    *,
    direction: str = BOTH,
    depth: int | None = None,
    include_implicit: bool = False,
) -> Graph:
    """The graph around ``ref`` (``name:vN`` or ``name:alias``), ``depth`` runs deep."""
    _check_direction(direction)
    version = store.resolve(parse_ref(ref))
    graph = Graph(version_id(version.name, version.number))
    builder = _Builder(store, include_implicit, graph.damage)
    builder.version_node(graph, version)
    if direction in (UPSTREAM, BOTH):
        builder.up(graph, version, depth)
    if direction in (DOWNSTREAM, BOTH):
        builder.down(graph, version, depth)
    return graph


def run_lineage(
    store: Store,
    rid: str,
    *,
    direction: str = BOTH,
    depth: int | None = None,
    include_implicit: bool = False,
) -> Graph:
    """The graph around a run: what it read and where that came from, what it made and
    what came of that; the run itself is the first of ``depth`` steps."""
    _check_direction(direction)
    record = runs_mod.get_run(store, rid)
    graph = Graph(run_id(record["id"]))
    builder = _Builder(store, include_implicit, graph.damage)
    rnode = builder.run_node(graph, record)
    deeper = None if depth is None else max(0, depth - 1)
    if depth == 0:
        return graph
    if direction in (UPSTREAM, BOTH):
        for source, files in builder.inputs(record["id"]):
            builder.edge(graph, builder.version_node(graph, source), rnode, "input", files)
            builder.up(graph, source, deeper)
    if direction in (DOWNSTREAM, BOTH):
        for made in builder.outputs(record["id"]):
            builder.edge(graph, rnode, builder.version_node(graph, made), "output")
            builder.down(graph, made, deeper)
    return graph
