"""``artfs.init`` and ``Run``: one execution of a program, with its inputs and outputs.

``init`` puts the run's id in ``ARTFS_RUN_ID`` so that child processes (and
commits they make) belong to the same run.  A run that is not finished
explicitly is finished when the interpreter exits (as failed after an uncaught
exception).  ``artfs.run`` (W&B's ``wandb.run``) is the active run, or None: the
module is named ``session`` so that the name stays free for it.  W&B's cloud
notions map to what is true locally: ``project``, ``entity``, ``group``, ``tags``
and ``notes`` are recorded on the run; ``resume`` continues a recorded run;
``mode="disabled"`` records nothing, as W&B's does.
"""

import atexit
import os
import re
import shutil
import sys
import tempfile
import time

from artfs import distributed, registry, runio
from artfs import settings as settings_mod
from artfs.artifact import Artifact
from artfs.errors import ArtfsError, MissingPath, NotFound, UsageError, WrongArgument
from artfs.fs import registry as mounts
from artfs.metrics import History, Metric, Summary
from artfs.runconfig import Config, clean, parse_config
from artfs.store import runs as runs_mod
from artfs.store.store import Store
from artfs.values import iso, warn_once
from artfs.wbpath import Scope

RUN_ENV = runs_mod.RUN_ENV
_active: list["Run"] = []  # runs that are wandb.run in turn: the last one is
_others: list["Run"] = []  # reinit="create_new" runs: live, but never wandb.run
DEFAULTS_FILE = "config-defaults.yaml"  # W&B loads it from the working directory
_sweep_trial: dict | None = None  # set by sweeps.agent while a trial's function runs


def _label_property(key: str, doc: str) -> property:  # a field W&B lets a script change
    def get(self):
        value = self._record.get(key, runs_mod.LABELS.get(key))
        return tuple(value) if key == "tags" else value

    def set_(self, value):
        if key == "tags":
            value = [str(t) for t in value]
        self._update(**{key: value})

    return property(get, set_, doc=doc)


class Run:
    """A W&B-style run.  ``artfs.init()`` starts one (live: it logs); ``artfs.Api().run()``,
    ``runs()``, ``artifact.logged_by()`` and ``used_by()`` return recorded ones."""

    def __init__(self, store: Store | None, record: dict, *, live: bool = False, step: int = 0):
        self._store = store
        self._record = record
        self.finished = record["status"] != "running"
        self._live = live
        self._config: Config | dict | None = None
        self._history: History | None = None
        if live:
            summary = Summary(self._load_summary(), save=self._save_summary)
            self._history = History(store, record["id"], summary, record["start"], step)

    id = property(lambda self: self._record["id"])
    job_type = property(lambda self: self._record["job_type"])
    state = property(
        lambda self: self._record["status"],
        doc="running, finished, failed, or adhoc (an implicit run)",
    )
    start = property(lambda self: self._record["start"], doc="seconds since the epoch")
    start_time = start
    created_at = property(
        lambda self: iso(self._record["start"]),
        doc="when the run started, as W&B's ISO string (UTC)",
    )
    end = property(lambda self: self._record["end"], doc="None while running")
    exit_code = property(lambda self: self._record["exit_code"])
    command = property(lambda self: self._record.get("command"))
    implicit = property(
        lambda self: bool(self._record.get("implicit")),
        doc="made by a mount for reads outside any run",
    )
    project = property(lambda self: self._record.get("project") or settings_mod.PROJECT)
    entity = property(
        lambda self: runs_mod.label(self._record, "entity") or self._record.get("user", "")
    )
    offline = property(lambda self: runs_mod.label(self._record, "mode") == "offline")
    disabled = property(lambda self: runs_mod.label(self._record, "mode") == "disabled")
    resumed = property(lambda self: bool(self._record.get("resumed")))
    sweep_id = property(lambda self: runs_mod.label(self._record, "sweep") or None)
    url = property(lambda self: None, doc="no web page: 'artfs runs show ID' shows the run")
    path = property(
        lambda self: f"{self.entity}/{self.project}/{self.id}",
        doc="entity/project/id, as W&B's run.path",
    )
    step = property(
        lambda self: self._history.step if self._history else _next_step(self._store, self.id),
        doc="the step the next log call goes to",
    )

    name = _label_property("name", "the run's display name")
    display_name = name
    notes = _label_property("notes", "a description of the run")
    tags = _label_property("tags", "a tuple of labels; assign a new sequence to change them")
    group = _label_property("group", "the experiment the run belongs to")

    def _update(self, **fields) -> None:
        if self._store is not None:
            self._record = runs_mod.update_run(self._store, self.id, **fields)
        else:
            self._record.update(fields)

    @property
    def dir(self) -> str:
        """A directory for the run's files (``save`` copies files here): under init's
        ``dir=`` as W&B lays it out, else in the store beside the run's metrics."""
        base = runs_mod.label(self._record, "dir")
        if base:
            return os.path.join(base, "wandb", f"run-{self.id}", "files")
        return os.path.join(
            self._store.path if self._store else tempfile.gettempdir(), "runs", self.id, "files"
        )

    @property
    def config(self) -> "Config | dict":
        """A live run's Config (changes are saved at once); a recorded run's config as a
        dict, as in W&B's public API (``update()`` saves changes made to it)."""
        if self._config is None:
            self._config = (
                Config(
                    self._record["config"],
                    on_change=self._save_config,
                    on_artifact=self.use_artifact,
                )
                if self._live
                else self._record["config"]
            )
        return self._config

    def _save_config(self, items: dict) -> None:
        self._update(config=items)

    @property
    def summary(self) -> Summary:
        """Each metric's last logged value, unless set here; item and attribute access."""
        if self._history is not None:
            return self._history.summary
        return Summary(self._load_summary(), save=self._save_summary)

    def _load_summary(self) -> dict:
        return runs_mod.get_summary(self._store, self.id) if self._store else {}

    def _save_summary(self, items: dict) -> None:
        if self._store is not None:
            runs_mod.put_summary(self._store, self.id, items)

    def log(
        self,
        data: dict,
        step: int | None = None,
        commit: bool | None = None,
        sync: bool | None = None,
    ) -> None:
        """Record metrics (W&B's ``run.log``): a history row per step, and the summary."""
        self._check_live("log").log(data, step=step, commit=commit)

    def define_metric(
        self,
        name: str,
        step_metric: "str | Metric | None" = None,
        step_sync: bool | None = None,
        hidden: bool | None = None,
        summary: str | None = None,
        goal: str | None = None,
        overwrite: bool | None = None,
    ) -> Metric:
        """How a metric is summarised (``summary="min"``, ``"max,mean"``, ``"none"``...)
        and which metric is its x axis; ``name`` may be a glob such as ``"val/*"``."""
        history = self._check_live("define_metric")
        metric = Metric(name, step_metric, step_sync, hidden, summary, goal)
        history.metrics[name] = metric
        return metric

    def history(
        self,
        samples: int = 500,
        keys: list[str] | None = None,
        x_axis: str = "_step",
        pandas: bool = True,
        stream: str = "default",
    ):
        """History rows (W&B's public ``Run.history``): at most ``samples`` of them, evenly
        spread; with ``keys``, the rows holding them, each with ``x_axis`` and those keys.
        A pandas DataFrame when pandas is installed and ``pandas`` is true."""
        if keys is not None and not isinstance(keys, list):
            raise UsageError("keys must be given as a list")
        if stream != "default":
            warn_once(
                "system",
                "artfs: artfs records no system metrics (stream='system'): "
                "the history it returns is empty",
            )
            rows = []
        else:
            rows = [row for _, row in self._rows(keys, x_axis)]
        if len(rows) > samples > 0:
            rows = [rows[i * len(rows) // samples] for i in range(samples)]
        return _frame(rows) if pandas else rows

    def scan_history(
        self,
        keys: list[str] | None = None,
        page_size: int = 1000,
        min_step: int = 0,
        max_step: int | None = None,
        use_cache: bool = True,
    ):
        """Every history row with ``min_step <= _step < max_step``; with ``keys``, only
        the rows holding all of them, with just those keys."""
        if keys is not None and not isinstance(keys, list):
            raise UsageError("keys must be given as a list")
        for step, row in self._rows(keys, None):
            if step >= min_step and (max_step is None or step < max_step):
                yield row

    def _rows(self, keys: list[str] | None, x_axis: str | None) -> list[tuple[int, dict]]:
        """(step, row) of each history row; with ``keys``, of those holding all of them,
        cut to ``x_axis`` (where present) and the keys."""
        if self._history is not None:
            self._history.flush()
        found = []
        for row in runs_mod.read_history(self._store, self.id) if self._store else []:
            if keys and not all(k in row for k in keys):
                continue
            wanted = [*([x_axis] if x_axis in row else []), *keys] if keys else row
            found.append((row.get("_step", 0), {k: row[k] for k in wanted}))
        return found

    def update(self) -> None:
        """Save changes made to a recorded run's config dict (W&B's public ``Run.update``);
        name, notes, tags, group and summary values are saved when set."""
        self._update(config=clean(dict(self.config)))

    def save(
        self, glob_str: str | None = None, base_path: str | None = None, policy: str = "live"
    ) -> list[str]:
        """Keep files with the run (W&B's ``run.save``): copies of the files matching
        ``glob_str`` go to ``run.dir`` (as paths relative to ``base_path``, else to their
        directory) and are listed on the run; → their paths there."""
        self._check_live("save")
        if policy not in ("live", "end", "now"):
            raise UsageError(f"policy must be 'live', 'end' or 'now', not {policy!r}")
        if glob_str is None:
            raise UsageError("save takes a glob of the files to keep, as save('*.pt')")
        import glob as globbing

        pattern = os.fspath(glob_str)
        found = [p for p in sorted(globbing.glob(pattern, recursive=True)) if os.path.isfile(p)]
        if not found and not globbing.has_magic(pattern):
            raise MissingPath(f"no file {pattern}; save takes paths or globs of files")
        fixed = re.split(r"[*?\[]", pattern)[0]  # the part before any wildcard
        base = base_path if base_path is not None else os.path.dirname(fixed)
        saved = [self._keep(path, os.path.relpath(path, base or ".")) for path in found]
        names = sorted(
            set(self._record.get("files", [])) | {os.path.relpath(p, self.dir) for p in saved}
        )
        self._update(files=names)
        return saved

    def _keep(self, path: str, name: str) -> str:
        target = os.path.join(self.dir, name)
        if os.path.abspath(path) != os.path.abspath(target):
            os.makedirs(os.path.dirname(target), exist_ok=True)
            try:
                shutil.copy2(path, target)
            except OSError as e:
                raise UsageError(f"cannot keep {path} with run {self.id}: {e.strerror}") from None
        return target

    def log_code(
        self,
        root: str | None = ".",
        name: str | None = None,
        include_fn=lambda path, root=None: path.endswith(".py"),
        exclude_fn=lambda path, root=None: False,
    ) -> "Artifact | None":
        """Log the source files under ``root`` (``.py`` by default) as an artifact of type
        ``code``, as W&B does; → the artifact, None when there is nothing to log."""
        self._check_live("log_code")
        root = os.path.abspath(root or ".")
        skip = {"wandb", "artifacts", ".git", ".venv", "venv", "__pycache__", "node_modules"}
        artifact = Artifact(
            name or re.sub(r"[^A-Za-z0-9_.-]", "_", f"source-{self.project}-{self.id}"), "code"
        )
        count = 0
        for top, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if d not in skip)
            for file in sorted(files):
                path = os.path.join(top, file)
                if _calls(include_fn, path, root) and not _calls(exclude_fn, path, root):
                    artifact.add_file(path, name=os.path.relpath(path, root))
                    count += 1
        return self.log_artifact(artifact) if count else None

    def watch(
        self,
        models,
        criterion=None,
        log: str | None = "gradients",
        log_freq: int = 1000,
        idx: int | None = None,
        log_graph: bool = False,
    ) -> None:
        """W&B's gradient and parameter histograms are charts of its UI: not recorded."""
        warn_once(
            "watch",
            "artfs: watch() records no gradients or parameters (histograms are "
            "charts of W&B's UI); log the values you need with log()",
        )

    def unwatch(self, models=None) -> None:
        """Nothing is watched (see ``watch``)."""

    def alert(self, title: str, text: str, level=None, wait_duration=None) -> None:
        """Recorded on the run and said on stderr: there is no Slack or email here."""
        self._check_live("alert")
        level = getattr(level, "value", level) or "INFO"
        print(f"artfs: alert [{level}] {title}: {text}", file=sys.stderr)
        self._update(
            alerts=[
                *self._record.get("alerts", []),
                {"title": title, "text": text, "level": str(level), "time": time.time()},
            ]
        )

    def mark_preempting(self) -> None:
        """Note that the run's job is about to be preempted (W&B then expects a resume)."""
        self._check_live("mark_preempting")
        self._update(preempting=True)

    def get_url(self) -> None:
        return None

    get_project_url = get_sweep_url = get_url
    project_name = property(lambda self: self.project)

    def _home(self) -> Store:
        """The store the run records to; a disabled run (which records nothing) has none."""
        if self._store is None:
            raise UsageError(
                f"run {self.id} records nothing (mode='disabled'); "
                "start it with init() without mode='disabled' to keep artifacts"
            )
        return self._store

    def _check_live(self, what: str) -> History:
        """The history of a run started by init() and not finished; UsageError otherwise."""
        if not self._live or self._history is None:  # a live run always has its history
            raise UsageError(
                f"{what} needs a run started by init(); run {self.id} is a recorded one"
            )
        if self.finished:
            raise UsageError(f"run {self.id} is finished; start another with init() to {what}")
        return self._history

    def log_artifact(
        self,
        artifact_or_path: "Artifact | str",
        name: str | None = None,
        type: str | None = None,
        aliases=None,
        tags=None,
        ttl=...,
        **_ignored,
    ) -> Artifact:
        """Commit a draft (or a path: W&B's ``run-RUNID-BASENAME`` of type ``unspecified``
        unless ``name``/``type`` say otherwise) as a new version made by this run; ``ttl``
        not given: the artifact's own (default: inherited)."""
        step = self._history.step if self._history is not None else None
        return runio.log(
            self._home(), self.id, artifact_or_path, name, type, aliases, tags, ttl, step
        )

    def use_artifact(
        self,
        artifact_or_name: "Artifact | str",
        type: str | None = None,
        aliases=None,
        use_as=None,
        **_ignored,
    ) -> Artifact:
        """Resolve ``[[entity/]project/]name[:vN|:alias]`` (or take an Artifact, logging a
        draft first) and record it as an input; ValueError if its type is not ``type``."""
        return runio.use(self._home(), self.id, self._scope(), artifact_or_name, type, aliases)

    # --- models, links and distributed artifacts (runio, registry, distributed) ---------

    def _scope(self) -> Scope:
        return Scope(self._record.get("entity") or None, self._record.get("project") or None)

    def log_model(self, path, name: str | None = None, aliases=None) -> None:
        """Log ``path`` as an artifact of type ``model`` (W&B returns nothing)."""
        runio.log(self._home(), self.id, path, name, "model", aliases)

    def use_model(self, name: str) -> str:
        """Use a model artifact and download it: its one file's path, or its directory."""
        return runio.use_model(self._home(), self.id, self._scope(), name)

    def link_artifact(self, artifact: Artifact, target_path: str, aliases=None) -> Artifact:
        """Link a version (a draft is logged first) into a registry collection or portfolio."""
        if artifact._version is None:
            self.log_artifact(artifact)
        return registry.link(self._home(), artifact, target_path, aliases, self.id, self._scope())

    def link_model(
        self, path, registered_model_name: str, name: str | None = None, aliases=None
    ) -> Artifact:
        """Log ``path`` as a model and link it into ``model-registry/REGISTERED_MODEL_NAME``."""
        return runio.link_model(
            self._home(), self.id, self._scope(), path, registered_model_name, name, aliases
        )

    def upsert_artifact(
        self,
        artifact_or_path,
        name: str | None = None,
        type: str | None = None,
        aliases=None,
        distributed_id: str | None = None,
    ) -> Artifact:
        """Add this process's files to the artifact shared under ``distributed_id``
        (default: the run's group); nothing is published until ``finish_artifact``."""
        artifact = runio.prepare(self.id, artifact_or_path, name, type)
        return distributed.upsert(
            self._home(), artifact, self._distributed_id(distributed_id), runio.alias_list(aliases)
        )

    def finish_artifact(
        self,
        artifact_or_path,
        name: str | None = None,
        type: str | None = None,
        aliases=None,
        distributed_id: str | None = None,
    ) -> Artifact:
        """Publish one version with every upsert's files and this artifact's own."""
        artifact = runio.prepare(self.id, artifact_or_path, name, type)
        runio.check_type(self._home(), artifact)
        return distributed.finish(
            self._home(),
            artifact,
            self._distributed_id(distributed_id),
            runio.alias_list(aliases),
            self.id,
        )

    def _distributed_id(self, distributed_id: str | None) -> str:
        found = distributed_id or self._record.get("group")
        if not found:
            raise WrongArgument(
                "Cannot upsert or finish an artifact unless the run is in a "
                "group (init(group=...)) or distributed_id is given"
            )
        return found

    def logged_artifacts(self) -> list[Artifact]:
        return self._edges("outputs")

    def used_artifacts(self) -> list[Artifact]:
        return self._edges("inputs")

    def _edges(self, db: str) -> list[Artifact]:
        found = []
        for name, number, _ in runs_mod.run_edges(self._home(), self.id, db):
            try:
                found.append(self._home().resolve(f"{name}:v{number}"))
            except NotFound:  # removed since: the run's record outlives it
                continue
        return [Artifact._from_version(self._home(), v) for v in found]

    def finish(self, exit_code: int | None = None, quiet: bool | None = None) -> None:
        """End the run: its last metrics are written, it is marked finished, or failed
        when ``exit_code`` is not 0."""
        if self.finished:
            return
        exit_code = exit_code or 0
        if self._history is not None:
            self._history.commit()
            self._history.flush()
        self.finished = True
        mounts.flush_reads(self._home().path)
        status = "finished" if exit_code == 0 else "failed"
        self._record = runs_mod.finish_run(
            self._home(), self.id, status=status, exit_code=exit_code
        )
        self._leave()

    def _leave(self) -> None:
        if self.offline and self._store is not None and self in _active + _others:
            self._store.offline_runs -= 1
        for live in (_active, _others):
            if self in live:
                live.remove(self)
        if os.environ.get(RUN_ENV) == self.id:
            del os.environ[RUN_ENV]

    def __enter__(self) -> "Run":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.finish(0 if exc_type is None else 1)

    def __eq__(self, other) -> bool:
        return isinstance(other, Run) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        return f"<Run {self.id} {self.name} ({self.state})>"


def _calls(fn, path: str, root: str) -> bool:
    """W&B's include_fn/exclude_fn take (path) or (path, root)."""
    try:
        return bool(fn(path, root))
    except TypeError:
        return bool(fn(path))


def _frame(rows: list[dict]):
    try:
        import pandas
    except ImportError:
        return rows
    return pandas.DataFrame.from_records(rows)


def init(
    entity: str | None = None,
    project: str | None = None,
    dir: str | None = None,
    id: str | None = None,
    name: str | None = None,
    notes: str | None = None,
    tags=None,
    config=None,
    config_exclude_keys: list[str] | None = None,
    config_include_keys: list[str] | None = None,
    allow_val_change: bool | None = None,
    group: str | None = None,
    job_type: str | None = None,
    mode: str | None = None,
    force: bool | None = None,
    reinit=None,
    resume=None,
    resume_from: str | None = None,
    fork_from: str | None = None,
    save_code: bool | None = None,
    tensorboard: bool | None = None,
    sync_tensorboard: bool | None = None,
    monitor_gym: bool | None = None,
    settings=None,
    anonymous=None,
    store: str | None = None,
) -> Run:
    """Start a run (W&B's ``wandb.init``) in the store ``store`` (else ``$ARTFS_HOME``...).

    With a run active, ``reinit`` decides as in W&B: by default the active run is
    returned unchanged; True or ``"finish_previous"`` finishes it first;
    ``"create_new"`` starts another that does not become ``artfs.run``.  ``resume``
    ("allow", "must", "never", "auto") with ``id`` continues a recorded run."""
    if resume_from or fork_from:
        raise UsageError(
            "resume_from and fork_from (rewinding or forking a run's history "
            "at a step) are not supported; resume the run with id= and resume="
        )
    if tensorboard or sync_tensorboard or monitor_gym:
        warn_once(
            "tensorboard",
            "artfs: sync_tensorboard and monitor_gym upload to W&B's UI; artfs records nothing",
        )
    args = settings_mod.resolve(
        {
            "entity": entity,
            "project": project,
            "dir": dir,
            "id": id,
            "name": name,
            "notes": notes,
            "tags": tags,
            "group": group,
            "job_type": job_type,
            "mode": mode,
            "reinit": reinit,
            "resume": resume,
        },
        settings,
        os.environ,
    )
    items = _config_items(config, config_exclude_keys, config_include_keys, args)
    if args["mode"] == "disabled":
        return _enter(DisabledRun(args, items), args["reinit"])
    previous = _reused(args)
    if previous is not None:
        return previous
    offline = args["mode"] == "offline"  # W&B's: the remote is left alone until sync
    opened = Store.open(store, refresh=not offline)
    if offline:
        opened.offline_runs += 1
    try:
        run = _resume(opened, args, items, allow_val_change) or _start(opened, args, items)
    except BaseException:
        opened.offline_runs -= offline
        raise
    if save_code and os.path.isfile(sys.argv[0]):
        run.save(sys.argv[0], base_path=os.path.dirname(sys.argv[0]) or ".")
    return _enter(run, args["reinit"])


def _config_items(config, exclude, include, args: dict) -> dict:
    """A new run's config: config-defaults.yaml, then ``config``, then the parameters of
    the sweep trial being run (which win, as in W&B; the trial also gives ``args`` its
    sweep, project and entity)."""
    items = clean(
        {
            **parse_config(DEFAULTS_FILE if os.path.isfile(DEFAULTS_FILE) else None),
            **parse_config(config, exclude, include),
        }
    )
    if _sweep_trial is not None:
        items.update(clean(_sweep_trial["config"]))
        args["project"] = args["project"] or _sweep_trial["project"]
        args["entity"] = args["entity"] or _sweep_trial["entity"]
        args["sweep"] = _sweep_trial["sweep"]
    return items


def _reused(args: dict) -> Run | None:
    """W&B's reinit with a run active: the run to return instead of a new one, if any
    (the active runs are finished first for True or "finish_previous")."""
    previous = active()
    if previous is None or args["reinit"] == "create_new":
        return None
    if args["reinit"] in (True, "finish_previous"):
        for run in list(_active):
            run.finish()
        return None
    if args["resume"] == "must":
        raise UsageError(
            "cannot resume a run while another is active; finish it first, or "
            "pass reinit='create_new'"
        )
    print(
        f"artfs: init() called while run {previous.id} is active: returning it (pass "
        "reinit='finish_previous' or 'create_new' for a new run)",
        file=sys.stderr,
    )
    return previous


_LABEL_ARGS = ("entity", "group", "notes", "mode", "dir", "sweep")


def _start(store: Store, args: dict, items: dict) -> Run:
    labels = {key: args[key] for key in _LABEL_ARGS if args.get(key) is not None}
    record = runs_mod.start_run(
        store,
        run_id=args["id"],
        job_type=args["job_type"],
        name=args["name"],
        config=items,
        project=args["project"] or settings_mod.PROJECT,
        command=sys.argv,
        tags=[str(t) for t in args["tags"] or []],
        **labels,
    )
    return Run(store, record, live=True)


def _resume(store: Store, args: dict, items: dict, allow_val_change) -> Run | None:
    """The recorded run that ``resume`` and ``id`` continue, running again; None for a
    new run."""
    resume = {True: "auto", False: None}.get(args["resume"], args["resume"])
    if resume not in (None, "allow", "must", "never", "auto"):
        raise UsageError(f"resume must be 'allow', 'must', 'never' or 'auto', not {resume!r}")
    run_id = args["id"] or (_crashed_run(store) if resume == "auto" else None)
    if resume is None or run_id is None:
        if resume == "must":
            raise UsageError("resume='must' needs the id of the run to resume: init(id=...)")
        return None
    try:
        record = runs_mod.get_run(store, run_id)
    except NotFound:
        if resume == "must":
            raise UsageError(
                f"resume='must', but there is no run {run_id!r} to resume; "
                "'artfs runs ls' lists them"
            ) from None
        return None
    if resume == "never":
        raise UsageError(
            f"run {run_id!r} already exists and resume='never'; choose another "
            "id or pass resume='allow'"
        )
    config = Config(record["config"])
    config.update(items, allow_val_change=allow_val_change)
    changes = {
        key: args[key]
        for key in ("name", "job_type", "project", *_LABEL_ARGS)
        if args.get(key) is not None
    }
    if args["tags"] is not None:
        changes["tags"] = [str(t) for t in args["tags"]]
    record = runs_mod.resume_run(store, run_id, config=config.as_dict(), **changes)
    return Run(store, record, live=True, step=_next_step(store, run_id))


def _next_step(store: Store | None, run_id: str) -> int:
    """The step after the last one a run logged (0 for none): where a resumed run goes on."""
    rows = runs_mod.read_history(store, run_id) if store else []
    return max((r.get("_step", -1) for r in rows), default=-1) + 1


def _crashed_run(store: Store) -> str | None:
    """W&B's resume="auto": the last run of this program, here, if it did not finish
    (its process died while it was running)."""
    here = [
        r
        for r in runs_mod.list_runs(store, damage=[])
        if r.get("cwd") == os.getcwd() and r.get("command") == sys.argv and not r.get("implicit")
    ]
    if here and here[-1]["status"] == "running" and not runs_mod.is_alive(here[-1]):
        return here[-1]["id"]
    return None


def _enter(run: Run, reinit) -> Run:
    """Make ``run`` live: ``artfs.run`` (unless reinit="create_new"), and the run of the
    processes this one starts."""
    (_others if reinit == "create_new" and active() is not None else _active).append(run)
    os.makedirs(run.dir, mode=0o700, exist_ok=True)  # scripts write into it at once
    if not run.disabled:
        os.environ[RUN_ENV] = run.id
        _watch_crashes()
    return run


class DisabledRun(Run):
    """``mode="disabled"`` (W&B's no-op run): nothing is recorded anywhere; config and
    summary work in memory, ``log`` only updates the summary, artifact calls do nothing
    (``log_artifact`` returns a stand-in, ``use_artifact`` None, as in W&B)."""

    def __init__(self, args: dict, items: dict):
        run_id = args["id"] or runs_mod.new_run_id()
        project = (
            args["project"] if args["project"] not in (None, settings_mod.PROJECT) else "dummy"
        )
        record = runs_mod.new_run_record(
            run_id=run_id,
            job_type=args["job_type"],
            name=args["name"] or f"dummy-{run_id}",
            config=items,
            project=project,
            entity=args["entity"] or "dummy",
            group=args["group"] or "",
            notes=args["notes"] or "",
            mode="disabled",
            tags=[str(t) for t in args["tags"] or []],
        )
        super().__init__(None, record, live=True)

    def log(self, data: dict, step=None, commit=None, sync=None) -> None:
        self.summary.update(data)

    def log_artifact(self, *args, **kwargs):
        return _Noop()

    def use_artifact(self, *args, **kwargs) -> None:  # type: ignore[override]  # W&B's: None
        return None

    def save(self, *args, **kwargs) -> bool:  # type: ignore[override]  # W&B's: False
        return False

    def log_code(self, *args, **kwargs) -> None:
        return None

    def alert(self, *args, **kwargs) -> None:
        return None

    def logged_artifacts(self) -> list:
        return []

    used_artifacts = logged_artifacts

    def finish(self, exit_code: int | None = None, quiet: bool | None = None) -> None:
        self.finished = True
        self._record["status"] = "finished" if not exit_code else "failed"
        self._leave()


class _Noop:
    """What a disabled run's ``log_artifact`` returns: every attribute and call is itself."""

    def __getattr__(self, _name: str) -> "_Noop":
        return self

    def __call__(self, *args, **kwargs) -> "_Noop":
        return self


def active() -> Run | None:
    """The run ``init`` started last and that is not finished (W&B's ``wandb.run``)."""
    return _active[-1] if _active else None


def finish(exit_code: int | None = None, quiet: bool | None = None) -> None:
    """Finish the active run (W&B's ``wandb.finish``); nothing to do without one."""
    run = active()
    if run is not None:
        run.finish(exit_code)


class PreInit:
    """What ``artfs.config`` and ``artfs.summary`` are without an active run: W&B raises
    ``wandb.Error`` on any use, saying to call init first."""

    def __init__(self, name: str):
        object.__setattr__(self, "_name", name)

    def _refuse(self, what: str):
        raise ArtfsError(f"You must call wandb.init() before {self._name}{what}")

    def __getitem__(self, key):
        self._refuse(f"[{key!r}]")

    def __setitem__(self, key, value):
        self._refuse(f"[{key!r}]")

    def __getattr__(self, key):
        if key.startswith("_"):
            raise AttributeError(key)
        self._refuse(f".{key}")

    def __setattr__(self, key, value):
        self._refuse(f".{key}")


def _on_active(method: str):
    """A module-level function (``artfs.log`` ...) that calls the active run's method,
    and raises as W&B does before ``init``."""

    def call(*args, **kwargs):
        run = active()
        if run is None:
            raise ArtfsError(f"You must call wandb.init() before wandb.{method}()")
        return getattr(run, method)(*args, **kwargs)

    call.__name__ = method
    call.__doc__ = f"``artfs.run.{method}(...)`` of the active run (W&B's ``wandb.{method}``)."
    return call


log = _on_active("log")
define_metric = _on_active("define_metric")
save = _on_active("save")
watch = _on_active("watch")
unwatch = _on_active("unwatch")
alert = _on_active("alert")
mark_preempting = _on_active("mark_preempting")
log_code = _on_active("log_code")
log_artifact = _on_active("log_artifact")
use_artifact = _on_active("use_artifact")
join = finish  # W&B's old name for finish


_crash: list[BaseException] = []  # an uncaught exception: the runs still live failed


class _CrashHook:
    """sys.excepthook while runs are live: notes the exception, then the previous hook."""

    def __init__(self, previous):
        self.previous = previous

    def __call__(self, kind, value, tb) -> None:
        _crash.append(value)
        self.previous(kind, value, tb)


def _watch_crashes() -> None:
    if not isinstance(sys.excepthook, _CrashHook):
        sys.excepthook = _CrashHook(sys.excepthook)


@atexit.register
def _finish_all() -> None:
    for run in [*_active, *_others]:
        run.finish(1 if _crash else 0)
