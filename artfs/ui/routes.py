"""The pages: each handler reads its query, asks ``queries`` (or ``preview``,
``graphs``, ``edit``) and renders a template.  Handlers are plain functions, which
Starlette runs in worker threads: store reads block."""

from urllib.parse import quote as url_quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from artfs.errors import ArtfsError, NotFound, UsageError
from artfs.store.names import LATEST
from artfs.store.tree import FILE
from artfs.ui import auth, edit, graphs, paths, queries
from artfs.ui.preview import image_type, preview

COMPARE_CHOICES = 500  # versions offered by the "compare with" selector, nearest first
RUN_REFRESH = 10  # seconds between reloads of a running run's page


def render(request: Request, template: str, status: int = 200, **context) -> HTMLResponse:
    ui = request.app.state.ui
    page = ui.templates.get_template(template).render(
        read_only=ui.read_only,
        csrf=ui.csrf,
        query=context.pop("query", ""),
        **context,
    )
    return HTMLResponse(page, status_code=status)


def _store(request: Request):
    return request.app.state.ui.store()


def index(request: Request) -> Response:
    store = _store(request)
    query = request.query_params.get("q", "")
    groups, damage = queries.artifact_rows(store, query)
    runs, run_damage = queries.recent_runs(store)
    return render(
        request,
        "index.html",
        groups=groups,
        runs=runs[: queries.RECENT_RUNS],
        run_count=len(runs),
        damage=damage + run_damage,
        query=query,
    )


def runs_list(request: Request) -> Response:
    store = _store(request)
    job_type = request.query_params.get("job_type") or None
    implicit = request.query_params.get("implicit") == "1"
    found, damage = queries.recent_runs(store, job_type=job_type, implicit=implicit)
    page = queries.Page.of(
        found, queries.page_number(request.query_params.get("page")), queries.RUNS_PAGE
    )
    return render(
        request, "runs.html", page=page, job_type=job_type, implicit=implicit, damage=damage
    )


def artifact(request: Request) -> Response:
    store = _store(request)
    name = request.path_params["name"]
    page, versions = queries.version_rows(
        store, name, queries.page_number(request.query_params.get("page"))
    )
    readable = [v for v in versions if v.damage is None]
    return render(
        request,
        "artifact.html",
        name=name,
        page=page,
        latest=readable[-1] if readable else None,
        record=_artifact_record(store, name),
    )


def _artifact_record(store, name: str) -> dict:
    try:
        return store.artifact(name)
    except ArtfsError:
        return {}  # damaged: its versions still show


def version(request: Request) -> Response:
    store = _store(request)
    v = queries.version_of(store, request.path_params["name"], request.path_params["ver"])
    here = _dir(request)
    needle = request.query_params.get("find", "")
    listing = queries.listing(
        store, v, here, queries.page_number(request.query_params.get("page")), needle
    )
    before = queries.previous(store, v)
    others = [o for o in store.versions(v.name) if o.damage is None and o.number != v.number]
    others.sort(key=lambda o: abs(o.number - v.number))
    run = queries._run_or_none(store, v.run) if v.run else None
    consumers = [
        (rid, queries._run_or_none(store, rid)) for rid in queries.runs_mod.consumers(store, v)
    ]
    return render(
        request,
        "version.html",
        v=v,
        here=here,
        crumbs=paths.parts(here),
        listing=listing,
        find=needle,
        before=before,
        new_bytes=queries.new_bytes(store, before, v),
        others=others[:COMPARE_CHOICES],
        run=run,
        consumers=consumers,
        metadata_rows=queries.flat_rows(v.metadata or {}),
        user_aliases=[a for a in v.aliases if a != LATEST],
        ttl=edit.ttl_text(v.record),
        expires=queries.expires(store, v),
        FILE=FILE,
    )


def _dir(request: Request) -> bytes:
    """The directory shown: ``dir`` (percent-encoded bytes), or ``dirhex`` from the
    filter's form, which cannot carry bytes that are not UTF-8 in a text field."""
    hexed = request.query_params.get("dirhex")
    if hexed:
        try:
            return bytes.fromhex(hexed).strip(b"/")
        except ValueError:
            raise UsageError("dirhex is a path in hex; follow the page's links") from None
    return paths.query_bytes(request.scope["query_string"], "dir").strip(b"/")


def file_view(request: Request) -> Response:
    store = _store(request)
    v = queries.version_of(store, request.path_params["name"], request.path_params["ver"])
    path = paths.query_bytes(request.scope["query_string"], "path")
    entry = queries.file_entry(store, v, path)
    parent = path.rsplit(b"/", 1)[0] if b"/" in path else b""
    return render(
        request,
        "file.html",
        v=v,
        path=path,
        parent=parent,
        crumbs=paths.parts(parent),
        entry=entry,
        preview=preview(store, entry),
    )


def raw(request: Request) -> Response:
    """A file's bytes: inline only for the image types the preview shows; anything else
    is a download, so that no file of a version is ever run as this site's page."""
    store = _store(request)
    v = queries.version_of(store, request.path_params["name"], request.path_params["ver"])
    path = paths.query_bytes(request.scope["query_string"], "path")
    entry = queries.file_entry(store, v, path)
    if entry.kind != FILE:
        raise NotFound(f"{paths.shown(path)} is not a regular file; it has no bytes to send")
    kind = image_type(entry.name)
    name = entry.name.decode("utf-8", "replace")
    fallback = "".join(c if c.isascii() and c.isalnum() or c in "._-" else "_" for c in name)
    inline = kind is not None and request.query_params.get("download") != "1"
    disposition = "inline" if inline else "attachment"
    headers = {
        "content-disposition": (
            f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{url_quote(name)}"
        ),
        "content-length": str(entry.size),
        "content-security-policy": "sandbox; default-src 'none'",
        "cache-control": "private, max-age=31536000, immutable",  # a version never changes
    }
    return StreamingResponse(
        store.read_file(entry),
        media_type=kind if inline else "application/octet-stream",
        headers=headers,
    )


DIFF_PAGE = 500  # changed paths listed per page
TEXT_DIFFS = 20  # small text files whose lines are compared, per page
TEXT_DIFF_BYTES = 64 * 1024


def diff_view(request: Request) -> Response:
    store = _store(request)
    a_ref, b_ref = request.query_params.get("a", ""), request.query_params.get("b", "")
    if not a_ref or not b_ref:
        raise UsageError("compare two versions: /diff?a=NAME:vN&b=NAME:vM")
    a, b = store.resolve(a_ref), store.resolve(b_ref)
    changes = queries.changes(store, a, b)
    number = queries.page_number(request.query_params.get("page"))
    page = queries.Page.of(changes, number, DIFF_PAGE)
    texts = _text_diffs(store, a, b, page.items)
    summary = {s: sum(c.status == s for c in changes) for s in ("added", "removed", "modified")}
    return render(request, "diff.html", a=a, b=b, page=page, texts=texts, summary=summary)


def _text_diffs(store, a, b, changes) -> dict[bytes, list[str]]:
    """Line diffs of the modified text files among ``changes``, by their paths' bytes."""
    import difflib

    out: dict[bytes, list[str]] = {}
    for change in changes:
        if len(out) >= TEXT_DIFFS:
            break
        if change.status != "modified":
            continue
        if max(change.old_size or 0, change.new_size or 0) > TEXT_DIFF_BYTES:
            continue
        old, new = store.lookup(a.root, change.raw), store.lookup(b.root, change.raw)
        if old.kind != FILE or new.kind != FILE:
            continue
        texts = []
        for entry in (old, new):
            data = queries.head(store, entry, TEXT_DIFF_BYTES + 1)
            try:
                texts.append(data.decode("utf-8"))
            except UnicodeDecodeError:
                break
        if len(texts) == 2 and "\0" not in texts[0] + texts[1]:
            lines = difflib.unified_diff(
                texts[0].splitlines(), texts[1].splitlines(), a.label, b.label, lineterm=""
            )
            out[change.raw] = list(lines)[2:400]  # the ---/+++ header says what the page does
    return out


def run_view(request: Request) -> Response:
    store = _store(request)
    page = queries.run_page(store, request.path_params["rid"])
    run = page["run"]
    live = queries.runs_mod.is_running(run) and queries.runs_mod.is_alive(run)  # not a dead one
    return render(request, "run.html", refresh=RUN_REFRESH if live else None, **page)


def graph_view(request: Request) -> Response:
    store = _store(request)
    params = request.query_params
    ref, rid = params.get("ref") or None, params.get("run") or None
    depth_text = params.get("depth", "")
    try:
        depth = int(depth_text) if depth_text else None
    except ValueError:
        raise UsageError(
            f"depth is a whole number of steps, or empty for all, not {depth_text!r}"
        ) from None
    if depth is not None and depth < 0:
        raise UsageError("depth is 0 or more steps")
    implicit = params.get("implicit") == "1"
    direction = params.get("direction", "both")
    graph = graphs.build(
        store, ref=ref, run=rid, direction=direction, depth=depth, implicit=implicit
    )
    view = params.get("view") or (
        graphs.SUMMARY if len(graph.nodes) > graphs.EXPANDED_DEFAULT_NODES else graphs.EXPANDED
    )
    nodes, edges = graphs.nodes_and_edges(graph, view)
    if len(nodes) > graphs.MAX_NODES:
        raise UsageError(
            f"this graph has {len(nodes)} nodes, more than a page lays out "
            f"({graphs.MAX_NODES}); choose a smaller depth or the summary"
        )
    picture = graphs.svg(graphs.dot(nodes, edges))
    return render(
        request,
        "graph.html",
        ref=ref or "",
        rid=rid or "",
        root=graph.nodes[graph.root],
        depth=depth_text,
        direction=direction,
        implicit=implicit,
        view=view,
        node_count=len(graph.nodes),
        edge_count=len(graph.edges),
        shown=len(nodes),
        svg=picture,
        damage=graph.damage,
    )


# --- writes -----------------------------------------------------------------------


async def _form(request: Request) -> dict[str, str]:
    """The POSTed form, once it passed the checks every write needs."""
    ui = request.app.state.ui
    if ui.read_only:
        raise UsageError("this artfs ui is read-only (--read-only): nothing can change here")
    fields = paths.form(await request.body())
    origin = request.headers.get("origin")
    if origin is not None and origin.split("://", 1)[-1] != request.headers.get("host"):
        raise Forbidden(f"a form from {origin} cannot change this store; use this page's own")
    if not auth.csrf_ok(ui.secret, fields.get("csrf")):
        raise Forbidden("the form's CSRF token is missing or wrong; reload the page and retry")
    return fields


class Forbidden(UsageError):
    """A write that did not come from this server's own page."""


def _back(request: Request, v) -> RedirectResponse:
    return RedirectResponse(f"/a/{v.name}/v{v.number}", status_code=303)


async def _posted(request: Request):
    """(form fields, store, version) of a write to the version the URL names."""
    fields = await _form(request)
    store = await run_in_threadpool(request.app.state.ui.store)
    v = await run_in_threadpool(
        queries.version_of, store, request.path_params["name"], request.path_params["ver"]
    )
    return fields, store, v


async def alias_post(request: Request) -> Response:
    fields, store, v = await _posted(request)
    alias = fields.get("alias", "").strip()
    if fields.get("action") == "remove":
        await run_in_threadpool(edit.remove_alias, store, v, alias)
    else:
        await run_in_threadpool(edit.set_alias, store, v, alias)
    return _back(request, v)


async def edit_post(request: Request) -> Response:
    fields, store, v = await _posted(request)
    await run_in_threadpool(edit.edit_details, store, v, fields)
    return _back(request, v)


ROUTES = [
    Route("/", index),
    Route("/runs", runs_list),
    Route("/run/{rid}", run_view),
    Route("/graph", graph_view),
    Route("/diff", diff_view),
    Route("/a/{name}", artifact),
    Route("/a/{name}/{ver}", version),
    Route("/a/{name}/{ver}/file", file_view),
    Route("/a/{name}/{ver}/raw", raw),
    Route("/a/{name}/{ver}/alias", alias_post, methods=["POST"]),
    Route("/a/{name}/{ver}/edit", edit_post, methods=["POST"]),
]
