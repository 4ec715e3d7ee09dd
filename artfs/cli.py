"""The ``artfs`` command: a thin layer that parses, calls the store, and prints.

Errors are one line on stderr: exit 1 for failures, 2 for usage.  Read
commands take ``--json``.  Progress goes to stderr, only on a terminal.
"""

import json
import os
import shutil
import sys
from contextlib import contextmanager, suppress
from typing import Any, NoReturn

import click

from artfs import errors
from artfs.store import gc as gc_mod
from artfs.store import meta as meta_mod
from artfs.store import retention as retention_mod
from artfs.store import runs as runs_mod
from artfs.store.commit import Commit, Node, check_exists, check_publication
from artfs.store.diff import diff as diff_versions
from artfs.store.names import check_name, parse_ref
from artfs.store.restore import export, fetch_plan
from artfs.store.stats import stats as store_stats
from artfs.store.store import PENDING, Store, Version, default_location
from artfs.store.verify import verify as verify_versions
from artfs.units import duration, human, parse_duration, parse_size


class Cli(click.Group):
    """Maps ArtfsError and OSError to one line and an exit code."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except errors.UsageError as e:
            _fail(str(e), 2)
        except errors.ArtfsError as e:
            _fail(str(e), 1)
        except (OSError, *meta_mod.FULL_ERRORS) as e:
            if meta_mod.is_disk_full(e) or not isinstance(e, OSError):  # LMDB's: all "full"
                _fail(str(errors.disk_full(_store_path(ctx))), 1)
            where = f": {e.filename}" if e.filename else ""
            _fail(f"{e.strerror or e}{where}", 1)
        except meta_mod.CORRUPTION as e:
            where = os.path.join(default_location(ctx.obj and ctx.obj.get("store")), "meta")
            _fail(str(meta_mod.damaged(where, str(e))), 1)
        except meta_mod.METADATA_ERROR as e:
            _fail(f"the store's metadata cannot be read ({e}); is the store damaged?", 1)
        except KeyboardInterrupt:
            _fail("interrupted; nothing was published", 130)


def _store_path(ctx) -> str:
    return default_location((ctx.obj or {}).get("store"))


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"artfs: error: {message}", err=True)
    sys.exit(code)


@contextmanager
def progress(total, label: str):
    """A byte progress bar on stderr when it is a terminal; a no-op callback otherwise.

    ``total`` may be a function, so that sizing the work costs nothing without a bar."""
    if not sys.stderr.isatty():
        yield lambda n: None
        return
    total = total() if callable(total) else total
    if total <= 0:
        yield lambda n: None
        return
    with click.progressbar(
        length=total, label=label, file=sys.stderr, show_pos=False, show_percent=True, show_eta=True
    ) as bar:
        yield bar.update


def tree_size(path: str) -> int:
    if not os.path.isdir(path):
        return os.lstat(path).st_size
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            with suppress(OSError):  # vanished since the walk: the commit will say so
                total += os.lstat(os.path.join(root, f)).st_size
    return total


def open_store(ctx: click.Context, create: bool = False) -> Store:
    store = Store.open(ctx.obj["store"], create=create)
    if store.remote_problem:
        warn(f"{store.remote_problem}; showing the versions cached here")
    return store


def emit(ctx_json: bool, data, text: str) -> None:
    click.echo(json.dumps(data, indent=2, default=str) if ctx_json else text)


def json_option(f):
    return click.option("--json", "as_json", is_flag=True, help="Print JSON.")(f)


def parse_json_object(text: str | None, option: str = "--metadata") -> dict:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise errors.UsageError(
            f"{option} is not valid JSON ({e.msg}); write e.g. '{{\"rows\": 10}}'"
        ) from None
    except RecursionError:
        raise errors.UsageError(
            f"{option} is nested more than {meta_mod.MAX_DEPTH} levels "
            "deep; flatten it, or put it in a file of the artifact"
        ) from None
    if not isinstance(value, dict):
        raise errors.UsageError(f"{option} must be a JSON object, e.g. '{{\"rows\": 10}}'")
    meta_mod.check_document(value, option)  # depth, keys, size, NaN and Infinity
    return value


def version_dict(v: Version) -> dict:
    return {
        "name": v.name,
        "version": f"v{v.number}",
        "digest": v.digest,
        "size": v.size,
        "files": v.files,
        "aliases": v.aliases,
        "type": v.type,
        "created": v.created,
        "description": v.description,
        "metadata": v.metadata,
        "message": v.message,
        "run": v.run,
        "base": v.record.get("base"),
    }


@click.group(cls=Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--store",
    type=click.Path(file_okay=False),
    envvar=None,
    help="Store directory (default: $ARTFS_HOME, else the user data directory).",
)
@click.option(
    "--offline",
    is_flag=True,
    help="Leave the remote alone: show cached versions only ($ARTFS_OFFLINE).",
)
@click.version_option(package_name="artfs")
@click.pass_context
def main(ctx, store, offline):
    """artfs: versioned, deduplicated artifacts for ML pipelines."""
    ctx.obj = {"store": store}
    if offline:
        os.environ["ARTFS_OFFLINE"] = "1"  # also for the processes this one starts


@main.command()
@click.argument("path", type=click.Path(exists=False))
@click.option("--name", required=True, help="Artifact name.")
@click.option("--type", "type_", default="dataset", show_default=True, help="Artifact type.")
@click.option("--alias", "aliases", multiple=True, help="Alias to set (repeatable).")
@click.option("--metadata", help="JSON object stored with the version.")
@click.option("--description", default="", help="Artifact description.")
@click.option("-m", "--message", default="", help="What changed in this version.")
@click.option(
    "--skip-special", is_flag=True, help="Skip fifos, sockets and devices with a warning."
)
@click.pass_context
def put(ctx, path, name, type_, aliases, metadata, description, message, skip_special):
    """Store PATH (a file or directory) as the next version of NAME."""
    meta_dict = parse_json_object(metadata)
    check_publication(name, type_, aliases, meta_dict, os.environ.get(runs_mod.RUN_ENV))
    check_exists(path)
    st = os.stat(path)  # PATH itself may be a symlink: store what it points to
    store = open_store(ctx, create=True)
    with (
        progress(lambda: tree_size(path), f"storing {name}") as bar,
        Commit(store, progress=bar, skip_special=skip_special, warn=warn) as commit,
    ):
        node = Node()
        if os.path.isdir(path):
            commit.scan_dir(path, node)
        elif os.path.isfile(path):
            base = os.fsencode(os.path.basename(os.path.abspath(path)))
            node.add(base, commit.file_entry(base, os.path.abspath(path), st), st.st_mtime_ns)
        else:  # --skip-special would leave nothing to store
            raise errors.SpecialFile(
                f"{path} is a fifo, socket or device; put takes a file or a directory"
            )
        version, created = commit.publish(
            name,
            node,
            type=type_,
            description=description,
            metadata=meta_dict,
            message=message,
            aliases=aliases,
            run_id=os.environ.get(runs_mod.RUN_ENV),
        )
        new_bytes = sum(stored for _, stored in commit.new_chunks.values())
    click.echo(version.label)
    if version.number == PENDING:
        warn(f"offline: {name} is kept here until 'artfs sync' publishes it and numbers it")
    elif created:
        click.echo(
            f"stored {len(commit.new_chunks)} new chunks ({human(new_bytes)}) for "
            f"{human(version.size)} in {version.files} files",
            err=True,
        )
    else:
        click.echo(
            f"unchanged: {version.label} already holds this content; nothing stored", err=True
        )


@main.command()
@click.argument("name", required=False)
@json_option
@click.pass_context
def ls(ctx, name, as_json):
    """List artifacts, or the versions of NAME.

    A record that cannot be read is listed as damaged, with a warning naming it; the
    rest is listed as usual."""
    store = open_store(ctx)
    damage: list[str] = []
    if name:
        versions = store.versions(check_name(name))
        policy = retention_mod.policy_of(store, name, damage)
        rows = [_version_row(v, damage) | _edit_info(v, policy) for v in versions]
        lines = [_version_line(v) + _expiry_note(v, policy) for v in versions]
    else:
        rows, lines = [], []
        for art in store.artifact_names(damage):
            row = _artifact_row(store, art, damage)
            rows.append(row)
            latest = row["latest"] or "-"
            lines.append(
                f"{art:<30} {row['type'] or 'DAMAGED':<10} {row['versions']:>4} "
                f"versions  latest {latest}"
            )
    emit(as_json, rows, "\n".join(lines) if lines else "(empty)")
    for problem in damage:
        warn(problem)


def _version_row(v: Version, damage: list[str]) -> dict:
    if v.damage is None:
        return version_dict(v)
    damage.append(str(v.error()))
    return {"name": v.name, "version": f"v{v.number}", "aliases": v.aliases, "damaged": v.damage}


def _version_line(v: Version) -> str:
    if v.damage is not None:
        return f"{v.label:<30} DAMAGED: {v.damage}  {','.join(v.aliases)}"
    return f"{v.label:<30} {human(v.size):>10} {v.files:>7} files  {','.join(v.aliases)}"


def _edit_info(v: Version, policy: dict) -> dict:
    """What can change after publication, for --json: ttl, expiry, last change, history."""
    if v.damage is not None:
        return {}
    return {
        "ttl": retention_mod.ttl_of(v, policy),
        "ttl_inherited": "ttl" not in v.record,
        "expires": retention_mod.expires_at(v, policy),
        "updated": v.record.get("updated", v.created),
        "edits": v.record.get("edits", []),
        "tags": v.record.get("tags", []),
    }


def _expiry_note(v: Version, policy: dict) -> str:
    if v.damage is not None:
        return ""
    expires = retention_mod.expires_at(v, policy)
    return f"  expires {_when(expires)}" if expires is not None else ""


def _artifact_row(store: Store, name: str, damage: list[str]) -> dict:
    """One artifact of 'artfs ls': a damaged record shows as such, its versions still count."""
    row: dict = {"name": name}
    try:
        kind = store.artifact(name)["type"]
    except errors.CorruptData as e:
        kind, row["damaged"] = None, e.problem
        damage.append(str(e))
    try:
        versions = store.versions(name)
    except errors.CorruptData as e:
        versions = []
        damage.append(str(e))
    damage += [str(v.error()) for v in versions if v.damage is not None]
    return row | {
        "type": kind,
        "versions": len(versions),
        "latest": f"v{versions[-1].number}" if versions else None,
    }


@main.command()
@click.argument("collection", required=False)
@json_option
@click.pass_context
def links(ctx, collection, as_json):
    """List registry collections and portfolios, or the links of COLLECTION
    (PROJECT/NAME, e.g. wandb-registry-model/prod).  The mount shows them under
    MOUNT/registry/."""
    from artfs.store import links as links_mod

    store = open_store(ctx)
    if collection:
        record = links_mod.get(store, collection)
        rows = [
            {
                "version": f"v{lk['version']}",
                "target": f"{lk['artifact']}:v{lk['number']}",
                "aliases": links_mod.aliases_of(record, lk["version"]),
                "run": lk["run"],
                "created": lk["created"],
            }
            for lk in record["links"]
        ]
        lines = [
            f"{collection}:{r['version']:<6} -> {r['target']:<30} {','.join(r['aliases'])}"
            for r in rows
        ]
    else:
        rows = [
            {
                "collection": k,
                "type": (r := links_mod.get(store, k))["type"],
                "links": len(r["links"]),
                "description": r["description"],
            }
            for k in links_mod.keys(store)
        ]
        lines = [f"{r['collection']:<40} {r['type']:<10} {r['links']:>4} links" for r in rows]
    emit(as_json, rows, "\n".join(lines) if lines else "(no collections)")


@main.command()
@click.argument("ref")
@json_option
@click.pass_context
def show(ctx, ref, as_json):
    """Show a version: files, sizes, digest, metadata, aliases, producing run."""
    store = open_store(ctx)
    v = store.resolve(ref)
    files: list[dict[str, Any]] = [  # JSON for --json, lines for the text
        {
            "path": p.decode(errors="replace"),
            "kind": e.kind,
            "size": e.size,
            "digest": e.digest.hex(),
            "mode": oct(e.mode),
        }
        for p, e in store.walk(v.root)
        if e.kind != 2
    ]
    edits = _edit_info(v, retention_mod.policy_of(store, v.name))
    info = version_dict(v) | edits | {"contents": files}
    lines = [
        f"{v.label}  ({v.type})",
        f"  digest   {v.digest}",
        f"  size     {human(v.size)} in {v.files} files",
        f"  aliases  {', '.join(v.aliases) or '-'}",
        f"  created  {_when(v.created)}",
        f"  run      {v.run or '-'}",
        f"  base     {v.record.get('base') or '-'}",
    ]
    if "updated" in v.record:
        last = edits["edits"][-1] if edits["edits"] else {}
        lines.append(
            f"  updated  {_when(v.record['updated'])} ({', '.join(last.get('fields', []))}"
            f"{' by run ' + last['run'] if last.get('run') else ''})"
        )
    ttl = "inherited, " if edits["ttl_inherited"] else ""
    lines.append(
        f"  ttl      {ttl}{duration(edits['ttl'])}"
        + (f", expires {_when(edits['expires'])}" if edits["expires"] else "")
    )
    if edits["tags"]:
        lines.append(f"  tags     {', '.join(edits['tags'])}")
    if v.description:
        lines.append(f"  description {v.description}")
    if v.message:
        lines.append(f"  message  {v.message}")
    if v.metadata:
        lines.append(f"  metadata {json.dumps(v.metadata)}")
    lines += [f"  {human(f['size']):>10}  {f['path']}" for f in files]
    emit(as_json, info, "\n".join(lines))


def _when(ts: float) -> str:
    import datetime

    return datetime.datetime.fromtimestamp(ts).isoformat(sep=" ", timespec="seconds")


@main.command()
@click.argument("ref")
@click.argument("dest", type=click.Path(file_okay=False))
@click.option("--force", is_flag=True, help="Write into a non-empty DEST, replacing files.")
@click.pass_context
def get(ctx, ref, dest, force):
    """Write the files of a version into DEST."""
    store = open_store(ctx)
    version = store.resolve(ref)
    if os.path.isdir(dest) and os.listdir(dest) and not force:
        raise errors.Conflict(f"{dest} is not empty; choose an empty directory or pass --force")
    _fetch(store, fetch_plan(store, version, dest), version.label)
    with progress(version.size, f"writing {version.label}") as bar:
        export(store, version, dest, bar, fetch=[])
    click.echo(f"{version.label} -> {dest}", err=True)


def _fetch(store: Store, plan, label: str) -> None:
    """Fetch ``plan``'s chunks from the remote into the cache, with a progress bar."""
    if not plan or store.remote is None:
        return
    with progress(sum(where.length for _, where in plan), f"fetching {label}") as bar:
        store.remote.prefetch(plan, bar)


def _sizes(old: int | None, new: int | None) -> str:
    """A change's sizes: one for a file added or removed; both for one modified, and by
    how much it changed (rounded sizes of a small change would read as equal)."""
    if old is None:
        return human(new or 0)
    if new is None:
        return human(old)
    delta = new - old
    sign = "+" if delta >= 0 else "-"
    return f"{human(old)} -> {human(new)} ({sign}{human(abs(delta))})"


@main.command()
@click.argument("old")
@click.argument("new")
@json_option
@click.pass_context
def diff(ctx, old, new, as_json):
    """Paths added, removed and modified between two versions."""
    store = open_store(ctx)
    a, b = store.resolve(old), store.resolve(new)
    changes = diff_versions(store, a.root, b.root)
    mark = {"added": "+", "removed": "-", "modified": "M"}
    lines = [f"{mark[c.status]} {c.path}  {_sizes(c.old_size, c.new_size)}" for c in changes]
    emit(
        as_json,
        [c.public() for c in changes],
        "\n".join(lines) if lines else f"{a.label} and {b.label} have the same content",
    )


@main.command()
@click.argument("ref")
@click.argument("alias")
@click.option("--rm", is_flag=True, help="Remove ALIAS from artifact REF instead.")
@click.pass_context
def alias(ctx, ref, alias, rm):
    """Point ALIAS at a version (NAME:VER ALIAS), or remove it (--rm NAME ALIAS)."""
    store = open_store(ctx)
    run_id = os.environ.get(runs_mod.RUN_ENV)  # the change is noted on the version, with it
    if rm:
        store.remove_alias(check_name(ref), alias, run_id)
        click.echo(f"removed alias {alias} from {ref}", err=True)
    else:
        version = store.set_alias(parse_ref(ref, need_selector=True), alias, run_id)
        click.echo(f"{version.name}:{alias} -> {version.label}")


@main.command()
@click.argument("ref")
@click.option("--force", is_flag=True, help="Also remove a version that holds user aliases.")
@click.pass_context
def rm(ctx, ref, force):
    """Remove a version; 'artfs gc' then frees the space only it used."""
    version = open_store(ctx).remove_version(ref, force=force)
    click.echo(f"removed {version.label}; run 'artfs gc' to free its space", err=True)


@main.command()
@click.argument("ref", required=False)
@click.option(
    "--remote",
    "on_remote",
    is_flag=True,
    help="Check the remote instead: every object its versions need is there and whole.",
)
@json_option
@click.pass_context
def verify(ctx, ref, on_remote, as_json):
    """Check the metadata, then re-read and re-hash every chunk (of REF, or of the whole
    store, with every index entry too)."""
    store = open_store(ctx)
    if on_remote:
        _verify_remote(store, ref, as_json)
        return
    if ref is None:  # every record, also those no artifact name reaches any more
        versions = store.all_versions()
    elif parse_ref(ref).selector is None:
        versions = store.versions(ref)
    else:
        versions = [store.resolve(ref, damaged=True)]
    total = sum(v.size for v in versions if v.damage is None)
    with progress(total, "verifying") as bar:
        report = verify_versions(store, versions, bar, whole=ref is None)
    result = {
        "versions": report.versions,
        "files": report.files,
        "chunks": report.chunks,
        "bytes": report.bytes,
        "damage": [d.__dict__ for d in report.damage],
    }
    lines = [
        f"DAMAGED {d.version}: {d.path} ({d.problem})"
        if d.path
        else f"DAMAGED {d.version}: {d.problem}"
        for d in report.damage
    ]
    lines.append(
        f"checked {report.chunks} chunks ({human(report.bytes)}) of {report.files} "
        f"files in {report.versions} versions: "
        + (f"{len(report.damage)} damaged" if report.damage else "all intact")
    )
    if report.damage:
        lines.append(
            "(a damaged file: add it again in a new version; damaged metadata: "
            "restore STORE/meta from a backup, or 'artfs rm' the version)"
        )
    emit(as_json, result, "\n".join(lines))
    if report.damage:
        sys.exit(1)


def _verify_remote(store: Store, ref: str | None, as_json: bool) -> None:
    from artfs.store.remoteverify import verify_remote

    if ref is not None:
        raise errors.UsageError("verify --remote checks the whole remote; leave out REF")
    report = verify_remote(store)
    lines = [f"DAMAGED remote: {problem}" for problem in report.problems]
    lines.append(
        f"checked {report.objects} objects in {report.packs} packs ({human(report.bytes)}) "
        f"on {store.remote.config.url if store.remote else ''}: "
        + (f"{len(report.problems)} damaged or missing" if report.problems else "all intact")
    )
    emit(as_json, report.__dict__, "\n".join(lines))
    if report.problems:
        sys.exit(1)


@main.command()
@click.option(
    "--dry-run", is_flag=True, help="Report what would be removed and freed; delete nothing."
)
@click.option(
    "--force",
    is_flag=True,
    help="Also remove expired versions that hold user aliases (the aliases go with them).",
)
@click.option(
    "--remote",
    "on_remote",
    is_flag=True,
    help="Free space on the remote too: unreferenced packs are doomed, and deleted "
    "by a later gc once doomed for the --grace period.",
)
@click.option(
    "--grace",
    default="1h",
    show_default=True,
    help="With --remote: how long a doomed pack waits before it is deleted.",
)
@json_option
@click.pass_context
def gc(ctx, dry_run, force, on_remote, grace, as_json):
    """Remove versions past their ttl or their artifact's keep-last policy ('artfs
    retention'), then free chunks that no version references.

    A version holding a user alias is kept unless --force.  What a running mount
    still serves is kept, also of removed versions, until the mount lets go of it.
    With a remote, the local chunks freed are the cache's; --remote frees the remote's."""
    from artfs.fs import registry

    grace_seconds = parse_duration(grace, "--grace") if on_remote else 0
    store = open_store(ctx)
    if on_remote and store.remote is None:
        raise errors.UsageError("this store has no remote; 'artfs gc' alone frees local space")
    report = gc_mod.collect(
        store, dry_run=dry_run, force=force, held=lambda: registry.held_by_mounts(store.path)
    )
    verb = "would free" if dry_run else "freed"
    removed = "would remove" if dry_run else "removed"
    why = {"ttl": "past its ttl", "keep_last": "beyond keep-last"}
    lines = [
        f"{removed} {e['version']} ({why[e['reason']]}"
        f"{'; with aliases ' + ', '.join(e['aliases']) if e['aliases'] else ''})"
        for e in report.expired
    ]
    lines.append(
        f"{verb} {report.chunks} chunks ({human(report.bytes)}), {report.trees} "
        f"trees, {report.strays} stray files"
        + (f"; kept {report.kept} unused chunks not on the remote yet" if report.kept else "")
    )
    result = report.__dict__ | {"dry_run": dry_run}
    if on_remote:
        from artfs.store import remotegc

        shared = remotegc.collect(store, grace=grace_seconds, dry_run=dry_run)
        result["remote"] = shared.as_dict()
        lines.append(
            f"remote: {'would delete' if dry_run else 'deleted'} {len(shared.deleted)} packs "
            f"({human(shared.freed_bytes)}), doomed {len(shared.doomed)}, revived "
            f"{len(shared.revived)}, kept {shared.live_packs}"
        )
    emit(as_json, result, "\n".join(lines))


@main.command()
@click.argument("ref")
@click.option("--keep-last", help="Keep the newest N versions ('off' clears it).")
@click.option(
    "--ttl",
    help="How long a version lives from its creation: 30d, 12h, 90m, 45s, "
    "2w ('off' clears it).  With NAME:VER: that version's own ttl ('never', or "
    "'inherit' to follow the artifact's).",
)
@click.option("--clear", is_flag=True, help="Remove the artifact's whole policy.")
@json_option
@click.pass_context
def retention(ctx, ref, keep_last, ttl, clear, as_json):
    """Show or set the retention policy of artifact NAME (applied by 'artfs gc'), or the
    ttl of one version NAME:VER.  A version holding a user alias is never removed by it."""
    store = open_store(ctx)
    if parse_ref(ref).selector is not None:
        _version_ttl(ctx, store, ref, ttl, keep_last or clear, as_json)
        return
    name = check_name(ref)
    changes: dict = {"keep_last": None, "ttl": None} if clear else {}
    if keep_last is not None:
        changes["keep_last"] = None if keep_last == "off" else _count(keep_last)
    if ttl is not None:
        changes["ttl"] = None if ttl == "off" else parse_duration(ttl, "--ttl")
    policy = store.set_retention(name, **changes) if changes else store.retention(name)
    text = (
        f"{name}: keep last {policy.get('keep_last', 'all')} versions, ttl "
        f"{duration(policy.get('ttl'))}"
        if policy
        else f"{name}: no retention policy"
    )
    emit(
        as_json,
        {"name": name, "keep_last": policy.get("keep_last"), "ttl": policy.get("ttl")},
        text,
    )


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise errors.UsageError(
            f"--keep-last takes a number of versions (at least 1) or 'off', not {text!r}"
        )
    return int(text)


def _version_ttl(ctx, store: Store, ref: str, ttl: str | None, other, as_json) -> None:
    if other:
        raise errors.UsageError(
            "--keep-last and --clear are an artifact's policy; give NAME, not NAME:VER"
        )
    if ttl is not None:
        v = store.edit_version(
            ref, ttl=retention_mod.parse_ttl(ttl), run_id=os.environ.get(runs_mod.RUN_ENV)
        )
    else:
        v = store.resolve(ref)
    info = _edit_info(v, retention_mod.policy_of(store, v.name))
    emit(
        as_json,
        {
            "version": v.label,
            "ttl": info["ttl"],
            "inherited": info["ttl_inherited"],
            "expires": info["expires"],
        },
        f"{v.label}: ttl {'inherited, ' if info['ttl_inherited'] else ''}"
        f"{duration(info['ttl'])}" + _expiry_note(v, retention_mod.policy_of(store, v.name)),
    )


@main.command()
@json_option
@click.pass_context
def stats(ctx, as_json):
    """Logical and stored bytes, dedup and compression ratios."""
    s = store_stats(open_store(ctx))
    emit(
        as_json,
        s.as_dict(),
        "\n".join(
            [
                f"artifacts          {s.artifacts}",
                f"versions           {s.versions}",
                f"logical bytes      {human(s.logical_bytes)}",
                f"unique bytes       {human(s.unique_bytes)}",
                f"stored bytes       {human(s.stored_bytes)}",
                f"chunks             {s.chunks}",
                f"dedup ratio        {s.dedup_ratio:.2f}x",
                f"compression ratio  {s.compression_ratio:.2f}x",
            ]
            + (
                [
                    f"local bytes        {human(s.local_bytes)} (the cache: 'artfs cache')",
                    f"remote bytes       {human(s.remote_bytes)}",
                ]
                if s.local_bytes is not None and s.remote_bytes is not None
                else []
            )
        ),
    )
    if s.damaged:
        warn(f"{s.damaged} records cannot be read and are not counted; 'artfs verify' names them")


def warn(message: str) -> None:
    click.echo(f"artfs: warning: {message}", err=True)


@main.command()
@click.argument("mountpoint", type=click.Path(file_okay=False))
@click.option("--foreground", is_flag=True, help="Stay in the foreground, logging to stderr.")
@click.option(
    "--allow-other",
    is_flag=True,
    help="Let other users in (the kernel checks permissions; needs user_allow_other "
    "in /etc/fuse.conf when not root).",
)
@click.option("--no-lineage", is_flag=True, help="Do not record which runs read what.")
@click.option(
    "--nonempty",
    is_flag=True,
    help="Mount over a non-empty MOUNTPOINT (its files are hidden while mounted).",
)
@click.option(
    "--remote-interval",
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds between looks at the remote for others' versions "
    "($ARTFS_REMOTE_INTERVAL, default 2).",
)
@click.option("--ready-fd", type=int, hidden=True)
@click.pass_context
def mount(
    ctx, mountpoint, foreground, allow_other, no_lineage, nonempty, remote_interval, ready_fd
):
    """Mount the store at MOUNTPOINT: artifacts/ read-only, staging/ writable.

    Reads of version files are recorded as inputs of the reading process's run."""
    from artfs.fs import daemon
    from artfs.store.remoteconfig import interval_seconds

    if remote_interval is not None:
        os.environ["ARTFS_REMOTE_INTERVAL"] = str(remote_interval)
    interval_seconds()  # a bad value is refused here, not in the daemon's log
    store = open_store(ctx, create=True)
    options = {"lineage": not no_lineage, "nonempty": nonempty}
    if foreground:
        daemon.serve(store.path, mountpoint, allow_other, ready_fd, **options)
        return
    daemon.start(store.path, mountpoint, allow_other, **options)
    click.echo(f"mounted {store.path} at {mountpoint}", err=True)


@main.command()
@click.argument("mountpoint", type=click.Path(file_okay=False))
def umount(mountpoint):
    """Unmount MOUNTPOINT (also a dead mount left by a crashed daemon)."""
    from artfs.fs import daemon

    daemon.unmount(mountpoint)
    click.echo(f"unmounted {mountpoint}", err=True)


@main.command()
@json_option
@click.pass_context
def status(ctx, as_json):
    """List the running mounts of the store."""
    from artfs.fs import registry

    store = open_store(ctx)
    found = registry.mounts(store.path)
    emit(
        as_json,
        [m.__dict__ for m in found],
        "\n".join(f"{m.mountpoint}  pid {m.pid}  since {_when(m.started)}" for m in found)
        or "no mounts",
    )


@main.command()
@click.argument("name")
@click.option(
    "--from",
    "base",
    help="Start from this version (NAME:VER, or a version of NAME; default: NAME's latest).",
)
@click.option("--empty", is_flag=True, help="Start empty, not from the latest version.")
@click.pass_context
def stage(ctx, name, base, empty):
    """Make a staging directory for the next version of NAME, showing its latest version
    (or --from VER) copy-on-write.  A staging with no uncommitted changes is replaced."""
    from artfs.store.staging import Staging, restage

    if base and empty:
        raise errors.UsageError("--from and --empty exclude each other; pass one")
    staging_name = _staging_name(name)
    store = open_store(ctx, create=True)
    staging = Staging(store, staging_name)
    version: Version | None
    if base:
        version = store.resolve(base if ":" in base else f"{staging.name}:{base}")
        where = f"from {version.label}"
    else:
        version = None if empty else _latest(store, staging.name)
        where = (
            f"from {version.label}, the latest version (--empty starts empty)"
            if version
            else "(empty)"
            if empty
            else f"(empty: {staging.name} has no versions yet)"
        )
    replaced = _through_mount(
        store,
        {"op": "stage", "name": staging.name, "base": version.label if version else None},
        lambda: {"replaced": restage(staging, version)},
    )["replaced"]
    again = ", replacing one with no uncommitted changes" if replaced else ""
    click.echo(
        f"staging {staging.name} {where}{again}: {_staging_location(store, staging)}", err=True
    )


def _staging_name(text: str) -> str:
    """A staging is named by an artifact name, never a version: 'a:b' is refused (it
    would stage 'a' under a name no other command takes), with what was probably meant."""
    ref = None
    with suppress(errors.InvalidName):
        ref = parse_ref(text)
    if ref is not None and ref.selector is not None:
        raise errors.InvalidName(
            f"a staging is named by an artifact name, not {text!r}; to "
            f"start from a version write 'artfs stage {ref.name} --from "
            f"{ref.selector}'"
        )
    return check_name(text)


def _latest(store: Store, name: str) -> Version | None:
    """The newest version of an artifact; None for a name with none yet."""
    try:
        versions = store.versions(name)
    except errors.NotFound:
        return None
    return versions[-1] if versions else None


def _through_mount(store: Store, request: dict, locally) -> dict:
    """The running mount's answer to ``request`` (a mount must change its stagings itself:
    it holds their writers meanwhile and forgets what it knew); with no mount running,
    ``locally()`` does the work here and answers."""
    from artfs.fs import registry

    live = registry.mounts(store.path)
    if not live:
        return locally()
    reply = registry.request(store.path, live[0], request)
    if not reply["ok"]:
        raise (errors.UsageError if reply["usage"] else errors.ArtfsError)(reply["error"])
    return reply


@main.command()
@click.argument("name")
@click.option("--force", is_flag=True, help="Also discard uncommitted changes.")
@click.pass_context
def unstage(ctx, name, force):
    """Discard staging NAME (refused while it holds uncommitted changes, unless --force)."""
    from artfs.store.staging import Staging, discard

    staging_name = _staging_name(name)
    store = open_store(ctx)
    staging = Staging(store, staging_name)

    def discard_here() -> dict:  # no mount runs: the empty answer a mount would give
        discard(staging, force=force)
        return {}

    _through_mount(store, {"op": "unstage", "name": staging.name, "force": force}, discard_here)
    click.echo(f"discarded staging {staging.name}", err=True)


def _staging_location(store: Store, staging) -> str:
    from artfs.fs import registry

    live = registry.mounts(store.path)
    return os.path.join(live[0].mountpoint, "staging", staging.name) if live else staging.tree


@main.command()
@click.argument("name")
@click.option("-m", "--message", default="", help="What changed in this version.")
@click.option("--alias", "aliases", multiple=True, help="Alias to set (repeatable).")
@click.option("--type", "type_", help="Artifact type (default: the artifact's, else dataset).")
@click.option("--metadata", help="JSON object stored with the version.")
@click.option(
    "--skip-special",
    is_flag=True,
    help="Leave fifos, sockets and devices out, with a warning for each.",
)
@click.pass_context
def commit(ctx, name, message, aliases, type_, metadata, skip_special):
    """Snapshot staging NAME into its next version (through the running mount, if any)."""
    from artfs.fs import registry
    from artfs.store.staging import Staging

    meta_dict = parse_json_object(metadata)
    check_publication(
        name, type_ or "dataset", aliases, meta_dict, os.environ.get(runs_mod.RUN_ENV)
    )
    store = open_store(ctx)
    request = {
        "op": "commit",
        "name": name,
        "message": message,
        "aliases": list(aliases),
        "type": type_,
        "metadata": meta_dict,
        "run_id": os.environ.get(runs_mod.RUN_ENV),
        "pid": os.getpid(),
        "skip_special": skip_special,
    }
    live = registry.mounts(store.path)
    if live:
        label, created = _commit_through_mount(store, live[0], request)
    else:
        del request["op"], request["name"], request["pid"]
        version, created = Staging(store, name).commit(warn=warn, **request)
        label = version.label
    click.echo(label)
    if not created:
        click.echo(f"unchanged: {label} already holds this content; nothing stored", err=True)


def _commit_through_mount(store: Store, mount, request: dict) -> tuple[str, bool]:
    """(label, created) of a commit the daemon makes.  If the daemon dies on the way,
    the store says whether it published: a script must neither commit twice nor give
    up on a version that exists."""
    from artfs.fs import registry

    name = request["name"]
    before = _newest(store, name)
    try:
        reply = registry.request(store.path, mount, request)
    except errors.MountLost as e:
        after = _newest(store, name)
        if after is None or after == before:
            raise errors.MountLost(
                f"{e}; no new version of {name} was published (the "
                "staging is as it was): commit again once mounted"
            ) from None
        warn(f"{e}; {name}:v{after} was published before it stopped")
        return f"{name}:v{after}", True
    if not reply["ok"]:
        raise (errors.UsageError if reply["usage"] else errors.ArtfsError)(reply["error"])
    for warning in reply.get("warnings", []):
        warn(warning)
    return reply["version"], reply["created"]


def _newest(store: Store, name: str) -> int | None:
    try:
        versions = store.versions(name)
    except errors.NotFound:
        return None
    return versions[-1].number if versions else None


@main.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("--job-type", help="What kind of job this is (train, eval, ...).")
@click.option("--name", help="A name for the run.")
@click.option("--config", help="JSON object: the run's configuration.")
@click.argument("command", nargs=-1, type=click.UNPROCESSED, required=True)
@click.pass_context
def run(ctx, job_type, name, config, command):
    """Run COMMAND (after --) as a recorded run; exits with COMMAND's exit code.

    Reads through the mount by COMMAND and its descendants are the run's inputs;
    versions they commit are its outputs."""
    from artfs.fs import registry
    from artfs.lineage.runner import CANNOT_START, run_command

    store = open_store(ctx, create=True)
    try:
        record, code = run_command(
            store,
            list(command),
            job_type=job_type,
            name=name,
            config=parse_json_object(config, "--config"),
            flush_reads=lambda: registry.flush_reads(store.path),
        )
    except OSError as e:
        click.echo(f"artfs: error: cannot run {command[0]}: {e.strerror}", err=True)
        sys.exit(CANNOT_START)
    click.echo(f"run {record['id']} {record['status']} (exit {code})", err=True)
    sys.exit(code)


@main.command()
@click.argument("ref")
@click.option("--upstream", "direction", flag_value="upstream", help="Only where REF came from.")
@click.option("--downstream", "direction", flag_value="downstream", help="Only what came of it.")
@click.option("--both", "direction", flag_value="both", default=True, help="Both (default).")
@click.option(
    "--depth",
    type=click.IntRange(min=0),
    help="How many steps deep: a run, or a version's base (default: all).",
)
@click.option("--all", "show_all", is_flag=True, help="Also implicit runs that only read.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["tree", "json", "dot", "mermaid", "svg", "html"]),
    default="tree",
    show_default=True,
)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to FILE.")
@click.pass_context
def lineage(ctx, ref, direction, depth, show_all, fmt, output):
    """The graph of runs and versions around REF (NAME:VER)."""
    from artfs.lineage.graph import lineage as build
    from artfs.lineage.render import render

    graph = build(open_store(ctx), ref, direction=direction, depth=depth, include_implicit=show_all)
    for damage in graph.damage:
        warn(f"left out of the graph: {damage}")
    text = render(graph, fmt)
    if output:
        with open(output, "w") as f:
            f.write(text)
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text, nl=not text.endswith("\n"))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True)
@click.option("--read-only", is_flag=True, help="Refuse every change (aliases, metadata).")
@click.option("--open", "open_browser", is_flag=True, help="Open the page in a browser.")
@click.option(
    "--token",
    help="Token every request must carry (default $ARTFS_UI_TOKEN; a new one off loopback).",
)
@click.pass_context
def ui(ctx, host, port, read_only, open_browser, token):
    """Serve the store as a web page until Ctrl-C: artifacts, versions, files, diffs,
    runs and the lineage graph (needs the 'ui' extra: pip install 'artfs[ui]')."""
    try:
        from artfs.ui.server import serve
    except ImportError as e:
        raise errors.UsageError(f"artfs ui needs {e.name}: pip install 'artfs[ui]'") from None
    store = open_store(ctx)
    serve(
        store.path,
        host=host,
        port=port,
        read_only=read_only,
        token=token,
        open_browser=open_browser,
        say=click.echo,
    )


@main.group()
def runs():
    """Recorded runs: list them, show one."""


@runs.command("ls")
@click.option(
    "--all", "show_all", is_flag=True, help="Also show implicit (adhoc) runs that only read."
)
@json_option
@click.pass_context
def runs_ls(ctx, show_all, as_json):
    """List runs, oldest first."""
    damage: list[str] = []
    found = runs_mod.list_runs(open_store(ctx), include_implicit=show_all, damage=damage)
    emit(
        as_json,
        found,
        "\n".join(
            f"{r['id']}  {r['status']:<9} {r['job_type'] or '-':<14} {r['name']:<24} "
            f"{_when(r['start'])}"
            for r in found
        )
        or "no runs",
    )
    for problem in damage:
        warn(problem)


@runs.command("show")
@click.argument("run_id")
@click.option("--files", "all_files", is_flag=True, help="List every file read, not the first few.")
@json_option
@click.pass_context
def runs_show(ctx, run_id, all_files, as_json):
    """A run: command, status, inputs (with the files read and bytes), outputs."""
    store = open_store(ctx)
    record = runs_mod.get_run(store, run_id)
    damage: list[str] = []
    inputs = [
        {"version": f"{n}:v{v}", **edge}
        for n, v, edge in runs_mod.run_inputs(store, run_id, damage)
    ]
    outputs = [f"{n}:v{v}" for n, v, _ in runs_mod.run_edges(store, run_id, "outputs", damage)]
    for problem in damage:
        warn(f"left out: {problem}")
    summary, history = runs_mod.get_summary(store, run_id), runs_mod.read_history(store, run_id)
    lines = [
        f"run {record['id']}  {record['name']}  ({record['job_type'] or '-'})",
        f"  status   {record['status']} (exit {record['exit_code']})",
        f"  command  {' '.join(record['command'])}",
        f"  started  {_when(record['start'])}  on {record['host']} as {record['user']}",
        *_run_labels(record),
        *[
            f"  config   {key} = {json.dumps(value)}"
            for key, value in sorted(record["config"].items())
        ],
        *(
            [
                (
                    f"  history  {len(history)} rows"
                    f" (steps {history[0].get('_step')}..{history[-1].get('_step')})"
                )
            ]
            if history
            else []
        ),
        *[
            f"  summary  {key} = {json.dumps(value)}"
            for key, value in sorted(summary.items())
            if not key.startswith("_")
        ],
    ]
    for edge in inputs:
        lines += _input_lines(edge, all_files)
    lines += [f"  output   {label}" for label in outputs]
    labels = {key: runs_mod.label(record, key) for key in runs_mod.LABELS}
    emit(
        as_json,
        labels
        | record
        | {"inputs": inputs, "outputs": outputs, "summary": summary, "history_rows": len(history)},
        "\n".join(lines),
    )


def _input_lines(edge: dict, all_files: bool) -> list[str]:
    """An input version with what was read of it: the first files (a data loader's run
    reads millions), or every one with ``all_files``."""
    from artfs.lineage.render import TREE_FILES

    files = sorted(edge["files"].items())
    total = sum(n for _, n in files)
    count = f"{len(files)} file{'' if len(files) == 1 else 's'}"
    lines = [f"  input    {edge['version']}  {count}, {human(total)} read"]
    shown = files if all_files else files[:TREE_FILES]
    shared = set(edge.get("shared", ()))  # another run read these at the same time
    lines += [
        f"             {path}  {'at least ' if path in shared else ''}{human(n)}"
        for path, n in shown
    ]
    if len(shown) < len(files):
        rest = files[len(shown) :]
        lines.append(
            f"             ... {len(rest)} more ({human(sum(n for _, n in rest))}; "
            "--files lists them all)"
        )
    return lines


def _run_labels(record: dict) -> list[str]:
    """The W&B fields a run was started with (project, entity, group, tags, notes)."""
    where = "/".join(x for x in (runs_mod.label(record, "entity"), record.get("project")) if x)
    lines = [f"  project  {where}"] if where else []
    for key in ("group", "tags", "notes", "mode"):
        value = runs_mod.label(record, key)
        if value and value != runs_mod.LABELS[key]:
            lines.append(f"  {key:<8} {', '.join(value) if key == 'tags' else value}")
    return lines


if __name__ == "__main__":
    main()


@main.group()
def remote():
    """The S3 home this store shares with other machines."""


def _remote_config(url: str, endpoint_url: str | None, cache_size: str | None):
    from artfs.store.remoteconfig import RemoteConfig, check_url

    size = parse_size(cache_size, "--cache-size") if cache_size else None
    return RemoteConfig(check_url(url), endpoint_url, size)


@remote.command("add")
@click.argument("url")
@click.option("--endpoint-url", help="S3 endpoint (default: $AWS_ENDPOINT_URL, else AWS).")
@click.option("--cache-size", help="Local cache limit, e.g. 50G (default: no limit).")
@click.pass_context
def remote_add(ctx, url, endpoint_url, cache_size):
    """Share this store through s3://BUCKET/PREFIX: its versions go there, others' come here."""
    from artfs.store.sharing import add_remote

    config = _remote_config(url, endpoint_url, cache_size)
    store = open_store(ctx, create=True)
    pushed = add_remote(store, config, progress=lambda label: warn_progress(f"pushed {label}"))
    click.echo(f"remote {config.url}" + (f": pushed {pushed} versions" if pushed else ""))


@remote.command("show")
@json_option
@click.pass_context
def remote_show(ctx, as_json):
    """Where the remote is, and what is cached here."""
    store = open_store(ctx)
    if store.remote is None:
        raise errors.UsageError("this store has no remote; add one with 'artfs remote add'")
    info = store.remote.describe()
    emit(as_json, info, "\n".join(f"{k:<18} {v}" for k, v in info.items()))


@remote.command("remove")
@click.option(
    "--force", is_flag=True, help="Also when versions here need chunks only the remote has."
)
@click.pass_context
def remote_remove(ctx, force):
    """Stop using the remote (it keeps its data; so does this store's cache)."""
    from artfs.store import sharing
    from artfs.store.remoteconfig import RemoteConfig

    store = open_store(ctx)
    if store.remote is None:
        raise errors.UsageError("this store has no remote")
    elsewhere = [] if force else sharing.versions_not_here(store.remote)
    if elsewhere:
        raise errors.Conflict(
            f"{len(elsewhere)} versions ({', '.join(elsewhere[:3])}"
            f"{', ...' if len(elsewhere) > 3 else ''}) need chunks that only the remote "
            "holds and could not be read without it; 'artfs get' what you need first, "
            "or remove the remote with --force"
        )
    sharing.detach(store.remote)
    RemoteConfig.remove(store.path)
    click.echo(f"removed the remote {store.remote.config.url}")


@main.command()
@click.argument("url")
@click.argument("directory", required=False, type=click.Path(file_okay=False))
@click.option("--endpoint-url", help="S3 endpoint (default: $AWS_ENDPOINT_URL, else AWS).")
@click.option("--cache-size", help="Local cache limit, e.g. 50G (default: no limit).")
def clone(url, directory, endpoint_url, cache_size):
    """Make a new local store at DIRECTORY (default: --store, $ARTFS_HOME) with the remote URL."""
    from artfs.store.sharing import add_remote

    config = _remote_config(url, endpoint_url, cache_size)
    path = default_location(directory)
    if os.path.exists(path) and os.listdir(path):
        raise errors.UsageError(f"{path} is not empty; clone into a new or empty directory")
    store = Store.open(path, create=True)
    try:
        add_remote(store, config, warn=warn)
    except BaseException:
        store.close()
        for name in os.listdir(path):  # the clone failed: leave the directory as it was
            full = os.path.join(path, name)
            shutil.rmtree(full) if os.path.isdir(full) else os.unlink(full)
        raise
    versions = len(store.all_versions())
    click.echo(f"cloned {config.url} into {path}: {versions} versions")


@main.command()
@click.pass_context
def sync(ctx):
    """Publish on the remote what was kept here: versions committed offline, and the
    lineage of runs that could not be sent."""
    store = open_store(ctx)
    if store.remote is None:
        raise errors.UsageError("this store has no remote; add one with 'artfs remote add'")
    if store.remote_problem:
        raise errors.RemoteError(store.remote_problem)
    from artfs.store.commit import publish_pending

    published = publish_pending(store, progress=lambda label: click.echo(f"published {label}"))
    runs = store.remote.push_runs()
    click.echo(f"published {published} versions and {runs} runs on {store.remote.config.url}")


@main.command()
@click.argument("refs", nargs=-1, required=True)
@json_option
@click.pass_context
def fetch(ctx, refs, as_json):
    """Fetch versions from the remote into the local cache, so that reading them (the
    mount, get, download) needs no network: e.g. on a training node before an epoch.
    Refuses, fetching nothing, when they would not fit in the cache's limit."""
    store = _store_with_remote(ctx)
    assert store.remote is not None
    if store.is_offline():
        raise errors.UsageError("fetching needs the remote; run it without --offline")
    if store.remote_problem:
        raise errors.RemoteError(store.remote_problem)
    versions = list({v.label: v for v in map(store.resolve, refs)}.values())
    chunks = (chunk for v in versions for chunk, _ in store.version_chunks(v))
    plan = store.remote.missing(chunks)
    need, limit = sum(where.length for _, where in plan), store.remote.cache.limit()
    labels = ", ".join(v.label for v in versions)
    if limit is not None and need > limit:
        raise errors.UsageError(
            f"{labels} need {human(need)} in the cache, more "
            f"than its limit of {human(limit)}; raise it with 'artfs cache --limit SIZE', "
            "or read through the mount, which fetches as it reads"
        )
    with progress(need, f"fetching {labels}") as bar:
        done = store.remote.prefetch(plan, bar)
    if done.chunks < len(plan):
        raise errors.CorruptData(
            f"{len(plan) - done.chunks} chunks of {labels} came damaged from the remote and "
            "were not kept; 'artfs verify --remote' names the versions that need them"
        )
    text = (
        f"fetched {done.chunks} chunks ({human(done.bytes)}) in {done.requests} requests: "
        f"{labels} cached here"
    )
    emit(
        as_json,
        {"versions": [v.label for v in versions]} | done.__dict__,
        text if plan else f"{labels} cached here already",
    )


def warn_progress(message: str) -> None:
    if sys.stderr.isatty():
        click.echo(message, err=True)


@main.group(invoke_without_command=True)
@click.option("--limit", help="Keep at most this much cached, e.g. 50G ('none': no limit).")
@json_option
@click.pass_context
def cache(ctx, limit, as_json):
    """What the local cache of the remote's chunks holds: cached chunks (the remote has
    them, evicted least recently used first) and pinned ones (not uploaded yet, never
    evicted).  With --limit, change the limit (for every process of this store) and
    evict down to it."""
    store = _store_with_remote(ctx)
    assert store.remote is not None
    pruned = None
    if limit is not None:
        size = None if limit.lower() == "none" else parse_size(limit, "--limit")
        pruned = store.remote.set_cache_limit(size)
    if ctx.invoked_subcommand is not None:
        return
    use = store.remote.cache.usage()
    emit(
        as_json,
        use.__dict__ | ({"pruned": pruned.__dict__} if pruned else {}),
        "\n".join(
            ([_pruned_line(pruned)] if pruned else [])
            + [
                f"cached  {human(use.cached_bytes)} in {use.cached_files} chunks "
                "(the remote has them)",
                f"pinned  {human(use.pinned_bytes)} in {use.pinned_files} chunks "
                "(not on the remote yet: kept)",
                f"limit   {human(use.limit) if use.limit is not None else 'none'}",
            ]
        ),
    )


@cache.command("prune")
@click.option("--to", "to", help="Evict down to this size (default: the limit; 0 empties it).")
@json_option
@click.pass_context
def cache_prune(ctx, to, as_json):
    """Evict cached chunks, least recently used first, down to the limit (or --to).
    Chunks not uploaded to the remote yet are never evicted."""
    store = _store_with_remote(ctx)
    assert store.remote is not None
    target = parse_size(to, "--to", zero=True) if to is not None else store.remote.cache.limit()
    if target is None:
        raise errors.UsageError("the cache has no limit; give --to SIZE (0 empties it)")
    pruned = store.remote.cache.prune(target)
    emit(as_json, pruned.__dict__, _pruned_line(pruned))


def _store_with_remote(ctx) -> Store:
    store = open_store(ctx)
    if store.remote is None:
        raise errors.UsageError(
            "this store has no remote, so no cache; add one with 'artfs remote add'"
        )
    return store


def _pruned_line(pruned) -> str:
    line = f"evicted {pruned.evicted_files} chunks ({human(pruned.evicted_bytes)})"
    if pruned.found or pruned.lost:
        line += (
            f"; counted {pruned.found} cached files the records lacked, dropped "
            f"{pruned.lost} records of files gone"
        )
    return line
