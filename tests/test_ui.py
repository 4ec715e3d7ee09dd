"""The web page over HTTP (Starlette's in-process test client, no server): every page
with real content, escaping of names and metadata holding markup, quotes and bytes
that are not UTF-8, no way out of the versions through a URL, the token and the Host
check, CSRF on every write, editing through Artifact.save(), paging, and a version
committed meanwhile showing on the next load."""

import json
import os
import re
import shutil
from urllib.parse import quote_from_bytes

import pytest
from starlette.testclient import TestClient

from artfs.store import runs as runs_mod
from artfs.store import store as store_mod
from artfs.store.store import Store
from artfs.ui import auth
from artfs.ui.app import make_app
from tests.conftest import write
from tests.ui_store import BAD_NAME, EVIL, QUOTES, build, put_dir

BASE = "http://127.0.0.1:8765"


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("ui") / "store")
    ids = build(path, tmp_path_factory.mktemp("src"))
    store_mod.close_all()
    return path, ids


@pytest.fixture
def seeded(template, tmp_path):
    """A copy of the seeded store for this test (edits must not leak into others)."""
    path = str(tmp_path / "store")
    shutil.copytree(template[0], path)
    return path, template[1]


@pytest.fixture
def client(seeded):
    with TestClient(make_app(seeded[0]), base_url=BASE, follow_redirects=False) as c:
        yield c


@pytest.fixture
def ids(seeded):
    return seeded[1]


def ok(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code, response.text[:500])
    return response.text


def no_markup_from_data(page: str) -> None:
    """What the data says (``<script>`` in names, metadata, run names) is text."""
    assert "<script>alert" not in page
    assert "<b>.txt" not in page
    # the page's own one script, if any, is a file of this server
    for tag in re.findall(r"<script[^>]*>", page):
        assert tag == '<script src="/static/graph.js">', tag


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)


# --- pages ------------------------------------------------------------------------------


@pytest.mark.fast
def test_front_page_lists_artifacts_by_type_and_recent_runs(client, ids):
    page = ok(client, "/")
    assert "<h2>dataset" in page and "<h2>model" in page
    assert 'href="/a/ds"' in page and 'href="/a/model"' in page
    row = re.search(r'href="/a/ds".*?</tr>', page, re.S).group(0)
    assert ">2<" in row  # two versions
    assert 'href="/a/ds/v1"' in row
    assert f'href="/run/{ids["train"]}"' in page  # recent runs
    assert ids["peek"] not in page  # an implicit run that only read is not shown
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page  # the run's name, as text
    no_markup_from_data(page)


@pytest.mark.fast
def test_search_matches_names_aliases_and_metadata(client):
    assert 'href="/a/model"' in ok(client, "/?q=best")  # an alias
    by_meta = ok(client, "/?q=double")  # in ds's metadata only
    assert 'href="/a/ds"' in by_meta and 'href="/a/model"' not in by_meta
    none = ok(client, "/?q=" + "<zzz>")
    assert "Nothing matches" in none and "&lt;zzz&gt;" in none


@pytest.mark.fast
def test_artifact_page_lists_versions_with_runs_sizes_and_new_bytes(client, ids):
    page = ok(client, "/a/ds")
    rows = re.findall(r"<tr>\s*<td><a href=\"/a/ds/v(\d)\">.*?</tr>", page, re.S)
    assert rows == ["1", "0"]  # newest first
    v1_row = re.search(r'<td><a href="/a/ds/v1">.*?</tr>', page, re.S).group(0)
    assert "latest" in v1_row
    assert f"/run/{ids['make']}" in v1_row
    assert f"/run/{ids['train']}" in v1_row or ids["train"][:8] in v1_row  # its consumer
    # new bytes of v1: the stored chunks of readme.txt and new.txt, the files that changed
    store = Store.open(client.app.state.ui.store_path)
    v0, v1 = store.resolve("ds:v0"), store.resolve("ds:v1")
    old = {c for c, _ in store.version_chunks(v0)}
    added = {c for c, _ in store.version_chunks(v1)} - old
    assert len(added) == 2
    stored = sum(os.stat(store.chunks.path(c)).st_size for c in added)
    assert v1.record["new_bytes"] == stored
    cells = re.findall(r'<td class="num">([^<]*)</td>', v1_row)
    assert f"{stored} B" in cells
    no_markup_from_data(page)


@pytest.mark.fast
def test_version_page_shows_details_metadata_and_files(client, ids):
    page = ok(client, "/a/ds/v1")
    store = Store.open(client.app.state.ui.store_path)
    v1 = store.resolve("ds:v1")
    assert v1.digest in page
    assert "37 B new against ds:v0" in page  # no base: compared with the version before
    assert "deep.k" in page  # nested metadata as dotted rows
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    for name in ("readme.txt", "data.csv", "conf.json", "preds.table.json", "new.txt"):
        assert f">{name}</a>" in page
    assert 'href="/a/ds/v1?dir=img">img/</a>' in page
    shown = BAD_NAME.decode("utf-8", "backslashreplace").replace("<", "&lt;").replace(">", "&gt;")
    assert shown in page  # caf\xe9 &lt;b&gt;.txt
    assert f"path={quote_from_bytes(BAD_NAME, safe='/')}" in page
    assert "Diff with ds:v0" in page
    assert f"/run/{ids['make']}" in page and f"/run/{ids['train']}" in page
    no_markup_from_data(page)


@pytest.mark.fast
def test_an_alias_in_the_url_names_its_version(client):
    page = ok(client, "/a/model/best")
    assert "model:v0" in page
    assert client.get("/a/model/nope").status_code == 404
    assert client.get("/a/nosuch").status_code == 404


@pytest.mark.fast
def test_directory_listing_and_breadcrumbs(client):
    page = ok(client, "/a/ds/v1?dir=img")
    assert ">red.png</a>" in page and "readme.txt" not in page
    assert 'href="/a/ds/v1?dir=img">img</a>' in page
    assert client.get("/a/ds/v1?dir=readme.txt").status_code == 404  # a file is no directory


@pytest.mark.fast
def test_previews_of_every_kind(client):
    text = ok(client, "/a/ds/v1/file?path=readme.txt")
    assert "<pre>hello\nworld\nchanged line\n</pre>" in text
    csv_page = ok(client, "/a/ds/v1/file?path=data.csv")
    assert "<th>id</th><th>label</th>" in csv_page and "<td>&lt;dog&gt;</td>" in csv_page
    assert "<th>a</th><th>b</th>" in ok(client, "/a/ds/v1/file?path=data.tsv")
    conf = ok(client, "/a/ds/v1/file?path=conf.json")
    assert "&#34;lr&#34;: 0.1" in conf and "&lt;script&gt;" in conf
    table = ok(client, "/a/ds/v1/file?path=preds.table.json")
    assert "<th>x</th><th>y</th>" in table and "<td>one</td>" in table and "W&amp;B table" in table
    image = ok(client, "/a/ds/v1/file?path=img/red.png")
    assert '<img src="/a/ds/v1/raw?path=img/red.png"' in image
    binary = ok(client, "/a/ds/v1/file?path=blob.bin")
    assert "00000000  00 01 02 03" in binary
    odd = ok(client, f"/a/ds/v1/file?path={quote_from_bytes(BAD_NAME)}")
    assert "latin-1 name" in odd
    for page in (text, csv_page, conf, table, image, binary, odd):
        no_markup_from_data(page)


@pytest.mark.fast
def test_raw_file_downloads_exact_bytes_and_images_inline(client):
    from tests.ui_store import png

    image = client.get("/a/ds/v1/raw?path=img/red.png")
    assert image.status_code == 200 and image.content == png()
    assert image.headers["content-type"] == "image/png"
    assert image.headers["content-disposition"].startswith("inline")
    blob = client.get("/a/ds/v1/raw?path=blob.bin&download=1")
    assert blob.content == bytes(range(256)) * 4
    assert blob.headers["content-type"] == "application/octet-stream"
    assert blob.headers["content-disposition"].startswith("attachment")
    # a JSON file is never served as something a browser would run as this site's page
    conf = client.get("/a/ds/v1/raw?path=conf.json")
    assert conf.headers["content-type"] == "application/octet-stream"
    assert "sandbox" in conf.headers["content-security-policy"]
    odd = client.get(f"/a/ds/v1/raw?path={quote_from_bytes(BAD_NAME)}&download=1")
    assert odd.content == b"latin-1 name\n"


@pytest.mark.parametrize(
    "url",
    [
        "/a/ds/v1/file?path=../../meta/data.mdb",
        "/a/ds/v1/raw?path=../../../etc/passwd",
        "/a/ds/v1/raw?path=%2Fetc%2Fpasswd",
        "/a/ds/v1/raw?path=img/../../v0/readme.txt",
        "/a/ds/v1/file?path=",
        "/a/ds/v1?dir=../..",
        "/a/..%2F..%2Fmeta/v0",
        "/static/../store.py",
        "/static/%2e%2e/app.py",
        "/a/ds/v1/raw?path=img",
    ],
)
def test_no_url_reaches_outside_the_versions(client, url):
    response = client.get(url)
    assert response.status_code in (400, 404), (url, response.status_code)
    assert "root:" not in response.text and "import" not in response.text


@pytest.mark.fast
def test_diff_page_lists_changes_and_text_diffs(client):
    page = ok(client, "/diff?a=ds:v0&b=ds:v1")
    assert "1 added" in page and "1 removed" in page and "1 changed" in page
    assert re.search(r'<tr class="added"><td>added</td>\s*<td><a [^>]*>new.txt', page)
    assert re.search(r'<tr class="removed"><td>removed</td>\s*<td>old.txt', page)
    assert '<span class="plus">+changed line</span>' in page
    same = ok(client, "/diff?a=ds:v1&b=ds:latest")
    assert "hold the same files" in same
    assert client.get("/diff?a=ds:v0").status_code == 400
    assert client.get("/diff?a=ds:v0&b=ds:v9").status_code == 404


def test_diff_of_a_file_whose_name_is_not_utf8_links_its_exact_bytes(tmp_path):
    store = Store.open(str(tmp_path / "store"))
    src = tmp_path / "src"
    src.mkdir()
    for text in (b"first\n", b"second\n"):
        with open(os.path.join(os.fsencode(str(src)), BAD_NAME), "wb") as f:
            f.write(text)
        put_dir(store, src, "odd")
    with TestClient(make_app(str(tmp_path / "store")), base_url=BASE) as client:
        page = ok(client, "/diff?a=odd:v0&b=odd:v1")
        link = f'href="/a/odd/v1/file?path={quote_from_bytes(BAD_NAME, safe="/")}"'
        assert link in page and "caf\\xe9 &lt;b&gt;.txt</a>" in page
        assert '<span class="plus">+second</span>' in page
        assert "second" in ok(client, link[6:-1])
        no_markup_from_data(page)


@pytest.mark.fast
def test_run_page_shows_config_metrics_inputs_and_outputs(client, ids):
    page = ok(client, f"/run/{ids['train']}")
    assert "train-1" in page and "finished" in page
    assert "<th>lr</th><td>0.01</td>" in page and "<th>layers</th><td>[1, 2]</td>" in page
    assert "<figcaption>loss" in page and "<polyline points=" in page
    assert 'href="/a/ds/v1">ds:v1</a> · 2 files read, 37 B' in page
    assert ">data.csv</a>" in page
    assert 'href="/a/model/v0">model:v0</a>' in page
    made = ok(client, f"/run/{ids['make']}")
    assert "&lt;script&gt;alert" in made and "&#34;double&#34; &amp; &#39;single&#39;" in made
    no_markup_from_data(made)
    assert client.get("/run/nosuchrun").status_code == 404
    assert client.get("/run/bad%20id").status_code == 400


def test_a_running_runs_page_reloads_itself_and_a_finished_ones_does_not(client, ids):
    store = Store.open(client.app.state.ui.store_path)
    rid = runs_mod.start_run(store, job_type="train", name="going")["id"]
    assert '<meta http-equiv="refresh" content="10">' in ok(client, f"/run/{rid}")
    with pytest.MonkeyPatch.context() as patch:  # its process died without finishing it
        patch.setattr(runs_mod, "is_alive", lambda record: False)
        assert 'http-equiv="refresh"' not in ok(client, f"/run/{rid}")
    runs_mod.finish_run(store, rid)
    assert 'http-equiv="refresh"' not in ok(client, f"/run/{rid}")
    assert 'http-equiv="refresh"' not in ok(client, f"/run/{ids['train']}")


@pytest.mark.fast
def test_runs_page_filters_by_job_type_and_shows_implicit_on_request(client, ids):
    page = ok(client, "/runs")
    assert ids["train"] in page and ids["make"] in page and ids["peek"] not in page
    only = ok(client, "/runs?job_type=train")
    assert ids["train"] in only and ids["make"] not in only
    assert ids["peek"] in ok(client, "/runs?implicit=1")


def test_graph_page_expanded_and_summarised_with_links(client, ids):
    page = ok(client, "/graph?ref=ds:v1&view=expanded")
    assert "<svg" in page
    assert 'xlink:href="/a/ds/v1"' in page and f'xlink:href="/run/{ids["train"]}"' in page
    assert 'xlink:href="/a/model/v0"' in page
    assert f'xlink:href="/run/{ids["make"]}"' in page
    assert "&lt;script&gt;" in page  # the run's name inside the picture, as text
    no_markup_from_data(page)
    summary = ok(client, "/graph?ref=ds:v1&view=summary")
    assert 'xlink:href="/a/ds"' in summary and 'xlink:href="/runs?job_type=train"' in summary
    assert ">dataset · 1 version<" in summary and ">1 run<" in summary
    run_graph = ok(client, f"/graph?run={ids['train']}")
    assert 'xlink:href="/a/ds/v1"' in run_graph and 'xlink:href="/a/model/v0"' in run_graph


def test_graph_depth_direction_and_implicit_runs(client, ids):
    shallow = ok(client, "/graph?ref=model:v0&direction=upstream&depth=1")
    assert f'/run/{ids["train"]}"' in shallow and 'xlink:href="/a/ds/v1"' in shallow
    assert f'/run/{ids["make"]}"' not in shallow  # two steps up
    deep = ok(client, "/graph?ref=model:v0&direction=upstream")
    assert f'/run/{ids["make"]}"' in deep
    assert f'/run/{ids["peek"]}"' not in ok(client, "/graph?ref=ds:v0")
    assert f'/run/{ids["peek"]}"' in ok(client, "/graph?ref=ds:v0&implicit=1")
    assert client.get("/graph?ref=ds:v0&depth=x").status_code == 400
    assert client.get("/graph?ref=ds:v0&direction=sideways").status_code == 400
    assert client.get("/graph").status_code == 400


def test_every_page_is_reachable_by_links_from_the_front_page(client):
    """Follow links breadth first from / (within a bound): each kind of page turns up."""
    seen, queue, kinds = set(), ["/"], set()
    while queue and len(seen) < 120:
        url = queue.pop(0)
        if url in seen:
            continue
        seen.add(url)
        response = client.get(url)
        assert response.status_code == 200, url
        if "text/html" not in response.headers["content-type"]:
            continue
        for href in re.findall(r'href="(/[^"#]*)"', response.text):
            href = href.replace("&amp;", "&")
            if not href.startswith("/static") and href not in seen:
                queue.append(href)
    for url in seen:
        kinds.add(re.sub(r"[?].*", "", re.sub(r"/a/[^/?]+(/[^/?]+)?", r"/a/N\1", url)))
    found = {re.sub(r"/a/N/[^/?]+", "/a/N/V", k) for k in kinds}
    for kind in ("/", "/a/N", "/a/N/V", "/a/N/V/file", "/a/N/V/raw", "/diff", "/graph", "/runs"):
        assert kind in found, (kind, sorted(found))
    assert any(k.startswith("/run/") for k in kinds)


@pytest.mark.fast
def test_paging_of_versions_and_files(store_dir, tmp_path):
    store = Store.open(store_dir)
    src = tmp_path / "many"
    for i in range(450):
        write(src / f"f{i:04d}.txt", str(i))
    put_dir(store, src, "big")
    one = tmp_path / "one"
    for i in range(60):  # versions of one small file: cheap to make
        write(one / "x.txt", f"edit {i}")
        put_dir(store, one, "many")
    with TestClient(make_app(store_dir), base_url=BASE) as client:
        first = ok(client, "/a/many")
        assert first.count('<td><a href="/a/many/v') == 50 and "page 1 of 2 (60)" in first
        assert '<td><a href="/a/many/v59">' in first and '<td><a href="/a/many/v9">' not in first
        second = ok(client, "/a/many?page=2")
        assert '<td><a href="/a/many/v9">' in second and '<td><a href="/a/many/v59">' not in second
        files = ok(client, "/a/big/v0")
        assert "page 1 of 3 (450)" in files and ">f0199.txt<" in files and "f0200" not in files
        last = ok(client, "/a/big/v0?page=3")
        assert ">f0449.txt<" in last and ">f0399.txt<" not in last
        assert ">f0449.txt<" in ok(client, "/a/big/v0?page=999999")  # clamped: page 3
        found = ok(client, "/a/big/v0?find=f044")
        assert found.count('class="file"') == 10
        assert ok(client, "/a/big/v0?page=abc").count('class="file"') == 200


@pytest.mark.fast
def test_a_version_committed_meanwhile_shows_on_the_next_load(client, tmp_path):
    assert 'href="/a/ds/v2"' not in ok(client, "/a/ds")
    store = Store.open(client.app.state.ui.store_path)
    write(tmp_path / "next" / "x.txt", "new")
    put_dir(store, tmp_path / "next", "ds")
    assert 'href="/a/ds/v2"' in ok(client, "/a/ds")
    rid = runs_mod.start_run(store, job_type="late", name="late-run")["id"]
    assert f"/run/{rid}" in ok(client, "/")


# --- writes --------------------------------------------------------------------------


@pytest.mark.fast
def test_alias_set_moved_and_removed(client):
    token = csrf_of(ok(client, "/a/ds/v0"))
    response = client.post("/a/ds/v0/alias", data={"csrf": token, "alias": "gold"})
    assert response.status_code == 303 and response.headers["location"] == "/a/ds/v0"
    store = Store.open(client.app.state.ui.store_path)
    assert "gold" in store.resolve("ds:v0").aliases
    client.post("/a/ds/v1/alias", data={"csrf": token, "alias": "gold"})  # moves it
    assert store.resolve("ds:gold").number == 1
    assert "gold" not in store.resolve("ds:v0").aliases
    page = ok(client, "/a/ds/v1")
    assert 'value="gold"' in page and "Remove “gold”" in page
    client.post("/a/ds/v1/alias", data={"csrf": token, "alias": "gold", "action": "remove"})
    assert "gold" not in store.resolve("ds:v1").aliases
    edits = store.resolve("ds:v1").record["edits"]
    assert edits[-1]["fields"] == ["aliases"]  # recorded as save() records an edit


@pytest.mark.fast
def test_description_and_metadata_edit(client):
    token = csrf_of(ok(client, "/a/ds/v0"))
    meta = {"score": 0.9, "note": EVIL}
    response = client.post(
        "/a/ds/v0/edit",
        data={"csrf": token, "description": f"new {QUOTES}", "metadata": json.dumps(meta)},
    )
    assert response.status_code == 303
    v0 = Store.open(client.app.state.ui.store_path).resolve("ds:v0")
    assert v0.description == f"new {QUOTES}" and v0.metadata == meta
    assert sorted(v0.record["edits"][-1]["fields"]) == ["description", "metadata"]
    page = ok(client, "/a/ds/v0")
    assert "new &#34;double&#34; &amp; &#39;single&#39; &lt;/textarea&gt;" in page
    no_markup_from_data(page)


@pytest.mark.fast
def test_tags_and_ttl_edit_and_a_ttl_left_as_shown_stays_exact(client):
    store = Store.open(client.app.state.ui.store_path)
    page = ok(client, "/a/ds/v0")
    assert 'name="ttl" value="inherit"' in page and "<th>TTL</th><td>inherit: never expires" in page
    v0 = store.resolve("ds:v0")
    form = {"csrf": csrf_of(page), "description": v0.description}
    form["metadata"] = json.dumps(v0.metadata)
    response = client.post("/a/ds/v0/edit", data={**form, "tags": "gold, aug-2", "ttl": "30d"})
    assert response.status_code == 303, response.text
    v0 = store.resolve("ds:v0")
    assert v0.record["tags"] == ["gold", "aug-2"] and v0.record["ttl"] == 30 * 86400
    assert sorted(v0.record["edits"][-1]["fields"]) == ["tags", "ttl"]
    page = ok(client, "/a/ds/v0")
    assert 'name="tags" value="gold, aug-2"' in page and 'name="ttl" value="30d"' in page
    assert "<th>TTL</th><td>30d: expires " in page
    # a ttl of 90,061 s shows as 90061s, and saving the form unchanged changes nothing
    store.edit_version("ds:v0", ttl=90061)
    edits = len(store.resolve("ds:v0").record["edits"])
    page = ok(client, "/a/ds/v0")
    assert 'name="ttl" value="90061s"' in page
    client.post("/a/ds/v0/edit", data={**form, "tags": "gold, aug-2", "ttl": "90061s"})
    assert store.resolve("ds:v0").record["ttl"] == 90061
    assert len(store.resolve("ds:v0").record["edits"]) == edits
    client.post("/a/ds/v0/edit", data={**form, "tags": "gold, aug-2", "ttl": "90061"})
    assert len(store.resolve("ds:v0").record["edits"]) == edits  # the same value, written so
    client.post("/a/ds/v0/edit", data={**form, "tags": "", "ttl": "never"})
    v0 = store.resolve("ds:v0")
    assert v0.record["ttl"] is None and not v0.record.get("tags")
    client.post("/a/ds/v0/edit", data={**form, "tags": "", "ttl": "inherit"})
    assert "ttl" not in store.resolve("ds:v0").record


@pytest.mark.parametrize(
    "fields",
    [{"ttl": "soon"}, {"ttl": "-3d"}, {"ttl": "0"}, {"ttl": "infd"}, {"tags": "a;b"}],
)
def test_bad_tags_or_ttl_change_nothing(client, fields):
    store = Store.open(client.app.state.ui.store_path)
    before = store.resolve("ds:v0").record
    token = csrf_of(ok(client, "/a/ds/v0"))
    form = {"csrf": token, "description": "changed?", "metadata": "{}", "tags": "", **fields}
    response = client.post("/a/ds/v0/edit", data=form)
    assert response.status_code == 400, response.text
    assert store.resolve("ds:v0").record == before


@pytest.mark.parametrize(
    "form, status",
    [
        ({"alias": "latest"}, 409),  # latest follows the newest version
        ({"alias": "v3"}, 400),  # looks like a version
        ({"alias": "a b"}, 400),
        ({"alias": EVIL}, 400),
    ],
)
def test_bad_alias_changes_nothing(client, form, status):
    store = Store.open(client.app.state.ui.store_path)
    before = store.resolve("ds:v0").record
    token = csrf_of(ok(client, "/a/ds/v0"))
    response = client.post("/a/ds/v0/alias", data={"csrf": token, **form})
    assert response.status_code == status, response.text
    assert "<script>alert" not in response.text
    assert store.resolve("ds:v0").record == before


@pytest.mark.parametrize("metadata", ["[1, 2]", "{not json", '{"a": NaN}', "3"])
def test_bad_metadata_changes_nothing(client, metadata):
    store = Store.open(client.app.state.ui.store_path)
    before = store.resolve("ds:v0").record
    token = csrf_of(ok(client, "/a/ds/v0"))
    response = client.post(
        "/a/ds/v0/edit", data={"csrf": token, "description": "changed?", "metadata": metadata}
    )
    assert response.status_code == 400, response.text
    assert store.resolve("ds:v0").record == before


@pytest.mark.fast
def test_writes_need_the_csrf_token_and_a_same_origin_form(client):
    store = Store.open(client.app.state.ui.store_path)
    before = store.resolve("ds:v0").record
    assert client.post("/a/ds/v0/alias", data={"alias": "x1"}).status_code == 403
    assert client.post("/a/ds/v0/alias", data={"alias": "x1", "csrf": "0" * 64}).status_code == 403
    token = csrf_of(ok(client, "/a/ds/v0"))
    evil = client.post(
        "/a/ds/v0/edit",
        data={"csrf": token, "description": "x", "metadata": "{}"},
        headers={"origin": "http://evil.example"},
    )
    assert evil.status_code == 403
    assert client.get("/a/ds/v0/alias").status_code == 405  # a GET changes nothing
    assert store.resolve("ds:v0").record == before


@pytest.mark.fast
def test_read_only_refuses_writes_and_shows_no_forms(seeded):
    with TestClient(make_app(seeded[0], read_only=True), base_url=BASE) as client:
        page = ok(client, "/a/ds/v0")
        assert 'name="csrf"' not in page and "read-only" in page
        token = auth.csrf_token(client.app.state.ui.secret)
        response = client.post("/a/ds/v0/alias", data={"csrf": token, "alias": "gold"})
        assert response.status_code == 400 and "read-only" in response.text
        assert "gold" not in Store.open(seeded[0]).resolve("ds:v0").aliases


# --- who may ask ---------------------------------------------------------------------


@pytest.mark.fast
def test_a_token_is_checked_on_every_request(seeded):
    secret = "s3cret-token-for-tests"
    app = make_app(seeded[0], token=secret, loopback_only=False)
    with TestClient(app, base_url="http://10.1.2.3:8765", follow_redirects=False) as client:
        for url in ("/", "/a/ds/v0", "/a/ds/v0/raw?path=readme.txt", "/static/ui.css"):
            denied = client.get(url)
            assert denied.status_code == 401 and "token" in denied.text, url
        assert client.get("/?token=wrong").status_code == 401
        assert client.get("/", headers={"authorization": f"Bearer {secret}"}).status_code == 200
        client.cookies.set(auth.COOKIE, "wrong")
        assert client.get("/").status_code == 401
        client.cookies.clear()
        entry = client.get(f"/a/ds?token={secret}&page=1")
        assert entry.status_code == 303 and entry.headers["location"] == "/a/ds?page=1"
        assert "httponly" in entry.headers["set-cookie"].lower()
        assert client.get("/a/ds").status_code == 200  # the cookie now
        token = csrf_of(client.get("/a/ds/v0").text)
        assert client.post("/a/ds/v0/alias", data={"csrf": token, "alias": "ok"}).status_code == 303


@pytest.mark.fast
def test_a_loopback_server_refuses_other_host_names(seeded):
    with TestClient(make_app(seeded[0]), base_url="http://attacker.example:8765") as client:
        response = client.get("/")
        assert response.status_code == 400 and "loopback" in response.text
    for base in ("http://localhost:8765", "http://[::1]:8765", "http://127.0.0.1"):
        with TestClient(make_app(seeded[0]), base_url=base) as client:
            assert client.get("/").status_code == 200, base


@pytest.mark.fast
def test_security_headers_on_pages(client):
    response = client.get("/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"


@pytest.mark.fast
def test_a_missing_store_is_refused_in_one_line(tmp_path):
    from artfs.errors import StoreError

    with pytest.raises(StoreError, match="no artfs store"):
        make_app(str(tmp_path / "none"))


@pytest.mark.fast
def test_token_choice():
    from artfs.errors import UsageError
    from artfs.ui.server import choose_token

    assert choose_token("127.0.0.1", None) is None
    assert len(choose_token("0.0.0.0", None) or "") >= 16
    assert choose_token("0.0.0.0", "x" * 20) == "x" * 20
    with pytest.raises(UsageError, match="16 characters"):
        choose_token("0.0.0.0", "short")


# --- the command -----------------------------------------------------------------------


def test_artfs_ui_prints_its_url_serves_and_stops_on_ctrl_c(seeded):
    import signal
    import subprocess
    import sys
    import urllib.request

    command = [sys.executable, "-m", "artfs", "--store", seeded[0], "ui", "--port", "0"]
    with subprocess.Popen(
        [*command, "--read-only"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        try:
            line = proc.stdout.readline()
            url = re.search(r"http://127\.0\.0\.1:\d+/", line)
            assert url and "(read-only)" in line, line + proc.stderr.read()
            with urllib.request.urlopen(url.group(0), timeout=30) as response:
                assert 'href="/a/ds"' in response.read().decode()
            proc.send_signal(signal.SIGINT)
            assert proc.wait(30) == 0
            assert "stopped" in proc.stdout.read()
        finally:
            if proc.poll() is None:
                proc.kill()


def test_artfs_ui_on_a_taken_port_says_so_in_one_line(seeded, cli):
    import socket

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        port = taken.getsockname()[1]
        result = cli("--store", seeded[0], "ui", "--port", str(port))
    finally:
        taken.close()
    assert result.code == 2 and f"cannot listen on 127.0.0.1:{port}" in result.err
    assert len(result.err.strip().splitlines()) == 1
