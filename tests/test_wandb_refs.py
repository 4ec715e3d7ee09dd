"""References as W&B documents them (Artifact.add_reference, "Track external files"):
file:// files and directories, http(s)://, another artifact's entry, s3:// and gs://."""

import contextlib
import http.server
import os
import threading
from urllib.parse import quote

import blake3
import pytest

import artfs as wandb
from artfs.errors import CommError, ReferenceChanged
from artfs.store.gc import collect
from artfs.store.store import Store
from tests.conftest import read, write

PORTS = range(18310, 18330)


def logged(art):
    with wandb.init(job_type="t") as run:
        run.log_artifact(art)
    return art


@pytest.fixture
def served(tmp_path):
    """A directory served over HTTP on 127.0.0.1: (directory, base URL)."""
    root = tmp_path / "www"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, *args):
            pass

    server = None
    for port in PORTS:
        with contextlib.suppress(OSError):
            server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Quiet)
            break
    assert server is not None, "no free port in 18310-18329"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.fast
def test_a_file_directory_reference_expands_to_one_entry_per_file(store_dir, tmp_path):
    write(tmp_path / "ext/a.txt", "alpha")
    write(tmp_path / "ext/sub/b.txt", "beta")
    art = wandb.Artifact("refs", type="dataset")
    entries = art.add_reference(f"file://{tmp_path / 'ext'}/", name="data")
    assert sorted(e.path for e in entries) == ["data/a.txt", "data/sub/b.txt"]
    logged(art)
    b = art.get_entry("data/sub/b.txt")
    assert b.ref == "file://" + quote(str(tmp_path / "ext/sub/b.txt")) and b.size == 4
    assert b.digest == blake3.blake3(b"beta").hexdigest()
    out = art.download(str(tmp_path / "out"))
    assert read(os.path.join(out, "data/sub/b.txt")) == b"beta"
    assert read(os.path.join(out, "data/a.txt")) == b"alpha"


@pytest.mark.fast
def test_a_directory_reference_without_a_name_sits_at_the_root(store_dir, tmp_path):
    write(tmp_path / "ext/a.txt", "alpha")
    art = wandb.Artifact("refs", type="dataset")
    assert [e.path for e in art.add_reference(f"file://{tmp_path / 'ext'}")] == ["a.txt"]


@pytest.mark.fast
def test_max_objects_and_checksum_false(store_dir, tmp_path):
    for i in range(3):
        write(tmp_path / f"ext/{i}.txt", str(i))
    art = wandb.Artifact("refs", type="dataset")
    with pytest.raises(ValueError, match="max_objects"):
        art.add_reference(f"file://{tmp_path / 'ext'}", max_objects=2)
    assert list(art.manifest) == []  # nothing of the refused reference
    entries = art.add_reference(f"file://{tmp_path / 'ext'}", checksum=False)
    assert len(entries) == 3 and all(e.size == 1 for e in entries)
    logged(art)
    write(tmp_path / "ext/0.txt", "changed")  # not checksummed: not checked either
    out = art.download(str(tmp_path / "out"))
    assert read(os.path.join(out, "0.txt")) == b"changed"


@pytest.mark.fast
def test_a_missing_file_reference_is_refused(store_dir, tmp_path):
    art = wandb.Artifact("refs", type="dataset")
    with pytest.raises(ValueError):
        art.add_reference(f"file://{tmp_path}/missing")
    with pytest.raises(ValueError, match="URI"):
        art.add_reference(str(tmp_path))


def test_http_reference_records_size_and_digest_and_download_checks(store_dir, tmp_path, served):
    root, base = served
    write(root / "weights.bin", b"remote weights")
    art = wandb.Artifact("refs", type="model")
    [entry] = art.add_reference(f"{base}/weights.bin")
    assert entry.path == "weights.bin" and entry.size == 14
    assert entry.ref == f"{base}/weights.bin"
    assert entry.digest == blake3.blake3(b"remote weights").hexdigest()
    logged(art)
    out = art.download(str(tmp_path / "out"))
    assert read(os.path.join(out, "weights.bin")) == b"remote weights"
    write(root / "weights.bin", b"other weights!")
    with pytest.raises(ReferenceChanged):
        art.download(str(tmp_path / "out2"))
    assert not os.path.exists(tmp_path / "out2" / "weights.bin")
    os.unlink(root / "weights.bin")
    with pytest.raises(CommError, match="404"):
        art.download(str(tmp_path / "out3"))
    art.download(str(tmp_path / "out4"), allow_missing_references=True)
    assert not os.path.exists(tmp_path / "out4" / "weights.bin")


def test_http_reference_to_nothing_is_refused_at_add(store_dir, served):
    _, base = served
    art = wandb.Artifact("refs", type="model")
    with pytest.raises(CommError, match="404"):
        art.add_reference(f"{base}/nothing.bin")


@pytest.mark.fast
def test_a_reference_to_another_artifacts_entry_resolves_to_its_content(store_dir, tmp_path):
    write(tmp_path / "src/file.txt", "source content")
    source = wandb.Artifact("source", type="dataset")
    source.add_dir(str(tmp_path / "src"))
    logged(source)
    entry = source.get_entry("file.txt")
    url = entry.ref_url()
    assert url.startswith("wandb-artifact://") and url.endswith("/file.txt")
    derived = wandb.Artifact("derived", type="dataset")
    derived.add_reference(url)
    derived.add_reference(entry, name="copy/again.txt")  # an entry is accepted as well
    logged(derived)
    # the content is reused, so it outlives the source version
    Store.open(store_dir).remove_version("source:v0")
    collect(Store.open(store_dir))
    out = derived.download(str(tmp_path / "out"))
    assert read(os.path.join(out, "file.txt")) == b"source content"
    assert read(os.path.join(out, "copy/again.txt")) == b"source content"
    assert derived.get_entry("file.txt").digest == entry.digest


@pytest.mark.fast
def test_ref_url_needs_a_logged_artifact(store_dir, tmp_path):
    write(tmp_path / "f.txt", "x")
    art = wandb.Artifact("ds", type="dataset")
    entry = art.add_file(str(tmp_path / "f.txt"))
    with pytest.raises(AttributeError):  # ArtifactNotLoggedError
        entry.ref_url()


@pytest.mark.fast
@pytest.mark.parametrize(
    "uri, name",
    [("s3://my-bucket/path/model.pt", "model.pt"), ("gs://my-bucket/data/train.csv", "train.csv")],
)
def test_cloud_references_are_recorded_and_refused_at_download(store_dir, tmp_path, uri, name):
    art = wandb.Artifact("refs", type="dataset")
    [entry] = art.add_reference(uri)
    assert entry.path == name and entry.ref == uri
    logged(art)
    assert art.get_entry(name).ref == uri
    with pytest.raises(CommError, match="credentials"):
        art.download(str(tmp_path / "out"))
    root = art.download(str(tmp_path / "out2"), allow_missing_references=True)
    assert not os.path.exists(os.path.join(root, name))


@pytest.mark.fast
def test_a_reference_url_is_kept_as_the_entrys_ref(store_dir, tmp_path):
    write(tmp_path / "f.txt", "content")
    source = wandb.Artifact("source", type="dataset")
    source.add_file(str(tmp_path / "f.txt"))
    logged(source)
    url = source.get_entry("f.txt").ref_url()
    derived = wandb.Artifact("derived", type="dataset")
    [entry] = derived.add_reference(url, name="g.txt")
    assert entry.ref == url
    logged(derived)
    assert derived.get_entry("g.txt").ref == url
    assert wandb.Api().artifact("derived:v0").get_entry("g.txt").ref == url
