"""Merkle tree objects (artfs/store/tree.py) and directory round trips through the store."""

import contextlib
import itertools
import os
import random
import stat
import tempfile

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from artfs.errors import CorruptData
from artfs.store.tree import (
    DIR,
    FILE,
    REFERENCE,
    SYMLINK,
    Entry,
    decode_tree,
    encode_tree,
    tree_digest,
)
from tests.conftest import write

KINDS = (FILE, DIR, SYMLINK, REFERENCE)

# --- encode_tree / decode_tree -------------------------------------------------------

names = st.binary(min_size=1, max_size=24).filter(
    lambda n: b"/" not in n and b"\0" not in n and n not in (b".", b"..")
)
modes = st.integers(0, 0o7777)
sizes = st.integers(0, 2**64 - 1)
digests = st.binary(min_size=32, max_size=32)
targets = st.binary(max_size=60).filter(lambda t: b"\0" not in t)
uris = st.text(max_size=40).map(str.encode)


def entry_for(name: bytes, kind: int | None = None):
    """A strategy for a valid entry called ``name`` (of ``kind``, or any kind)."""
    options = {
        FILE: st.builds(Entry, st.just(name), st.just(FILE), modes, sizes, digests, st.just(b"")),
        DIR: st.builds(
            Entry, st.just(name), st.just(DIR), modes, st.just(0), digests, st.just(b"")
        ),
        SYMLINK: st.builds(
            Entry, st.just(name), st.just(SYMLINK), modes, st.just(0), st.just(b""), targets
        ),
        REFERENCE: st.builds(Entry, st.just(name), st.just(REFERENCE), modes, sizes, digests, uris),
    }
    return options[kind] if kind else st.one_of(*options.values())


entry_lists = st.lists(names, unique=True, max_size=10).flatmap(
    lambda ns: st.tuples(*(entry_for(n) for n in ns)).map(list)
)

NON_UTF8 = [
    Entry(b"caf\xe9", FILE, 0o755, 3, b"\x01" * 32),
    Entry(b"\xff\xfe", SYMLINK, 0o777, target=b"../\xe9"),
    Entry(b"sub dir", DIR, 0o700, digest=b"\x02" * 32),
    Entry(b"ref", REFERENCE, 0o644, 2**64 - 1, b"\x03" * 32, "file:///é".encode()),
]


@settings(max_examples=60, deadline=None)
@given(entry_lists, st.randoms(use_true_random=False))
@example([], random.Random(0))
@example(NON_UTF8, random.Random(0))
def test_round_trip_is_canonical(entries, rnd):
    blob = encode_tree(entries)
    assert decode_tree(blob) == sorted(entries, key=lambda e: e.name)
    shuffled = list(entries)
    rnd.shuffle(shuffled)
    assert encode_tree(shuffled) == blob
    assert encode_tree(decode_tree(blob)) == blob


def mutations(e: Entry, taken: set[bytes]):
    """Strategies for copies of ``e`` that differ in one encoded field."""
    out = [
        names.filter(lambda n: n not in taken).map(lambda n: e._replace(name=n)),
        modes.filter(lambda m: m != e.mode).map(lambda m: e._replace(mode=m)),
        st.sampled_from([k for k in KINDS if k != e.kind]).flatmap(lambda k: entry_for(e.name, k)),
    ]
    if e.kind in (FILE, REFERENCE):
        out.append(sizes.filter(lambda s: s != e.size).map(lambda s: e._replace(size=s)))
    if e.kind in (FILE, DIR, REFERENCE):
        out.append(digests.filter(lambda d: d != e.digest).map(lambda d: e._replace(digest=d)))
    if e.kind == SYMLINK:
        out.append(targets.filter(lambda t: t != e.target).map(lambda t: e._replace(target=t)))
    if e.kind == REFERENCE:
        out.append(uris.filter(lambda t: t != e.target).map(lambda t: e._replace(target=t)))
    return st.one_of(*out)


@settings(max_examples=60, deadline=None)
@given(entry_lists.filter(bool), st.data())
def test_digest_changes_when_any_field_changes(entries, data):
    before = tree_digest(encode_tree(entries))
    i = data.draw(st.integers(0, len(entries) - 1), label="index")
    taken = {e.name for e in entries}
    changed = data.draw(mutations(entries[i], taken), label="changed")
    assert changed != entries[i]
    after = entries[:i] + [changed] + entries[i + 1 :]
    assert tree_digest(encode_tree(after)) != before
    # Adding or removing an entry changes it too.
    assert tree_digest(encode_tree(entries[:i] + entries[i + 1 :])) != before


@settings(max_examples=30, deadline=None)
@given(entry_lists.filter(bool), st.data())
def test_duplicate_names_raise(entries, data):
    victim = data.draw(st.sampled_from(entries))
    twin = data.draw(entry_for(victim.name))
    with pytest.raises(ValueError, match="duplicate"):
        encode_tree(entries + [twin])


BAD_NAMES = [b"", b".", b"..", b"/", b"a/b", b"/a", b"a/", b"\0", b"a\0b", b"\0\xff"]


@pytest.mark.fast
@pytest.mark.parametrize("bad", BAD_NAMES)
@pytest.mark.parametrize("kind", KINDS)
def test_invalid_names_raise(bad, kind):
    good = Entry(b"ok", FILE, 0o644, 1, b"\0" * 32)
    entry = Entry(bad, kind, 0o644, 0, b"\0" * 32 if kind != SYMLINK else b"", b"t")
    with pytest.raises(ValueError):
        encode_tree([good, entry])


@pytest.mark.fast
@settings(max_examples=30, deadline=None)
@given(names, st.sampled_from([b"/", b"\0"]), names)
def test_names_with_slash_or_nul_raise(left, bad, right):
    with pytest.raises(ValueError):
        encode_tree([Entry(left + bad + right, FILE, 0o644, 0, b"\0" * 32)])


@settings(max_examples=40, deadline=None)
@given(entry_lists.filter(bool), st.data())
def test_truncated_or_extended_objects_are_corrupt(entries, data):
    blob = encode_tree(entries)
    cut = data.draw(st.integers(0, len(blob) - 1), label="cut")
    with pytest.raises(CorruptData):
        decode_tree(blob[:cut])
    extra = data.draw(st.binary(min_size=1, max_size=40), label="extra")
    with pytest.raises(CorruptData):
        decode_tree(blob + extra)


@pytest.mark.fast
@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_garbage_is_corrupt_or_parsed(blob):
    with contextlib.suppress(CorruptData):
        decode_tree(b"AT1" + blob)


# --- store round trips through the CLI -------------------------------------------------


def snapshot(root: str | bytes) -> dict[bytes, tuple]:
    """Every path below root (bytes, exact) -> what it is: kind, mode, content or target."""
    out: dict[bytes, tuple] = {}

    def visit(path: bytes, rel: bytes) -> None:
        with os.scandir(path) as it:
            for item in it:
                name = rel + item.name
                st_ = os.lstat(item.path)
                if stat.S_ISLNK(st_.st_mode):
                    out[name] = ("link", os.readlink(item.path))
                elif stat.S_ISDIR(st_.st_mode):
                    out[name] = ("dir", stat.S_IMODE(st_.st_mode))
                    visit(item.path, name + b"/")
                else:
                    assert stat.S_ISREG(st_.st_mode), name
                    with open(item.path, "rb") as f:
                        out[name] = ("file", stat.S_IMODE(st_.st_mode), f.read())

    visit(os.fsencode(root), b"")
    return out


NAME_BYTES = b"abcXYZ019 _-.,+=@~#%\xe9\xff\x80\xc3\x28"


def random_name(rnd: random.Random, taken: set[bytes]) -> bytes:
    while True:
        name = bytes(rnd.choice(NAME_BYTES) for _ in range(rnd.randint(1, 24)))
        if name not in (b".", b"..") and name not in taken:
            taken.add(name)
            return name


def build_tree(root: bytes, rnd: random.Random, depth: int = 0) -> None:
    """A random directory with every kind of entry the store keeps."""
    taken: set[bytes] = set()
    for _ in range(rnd.randint(1, 6)):
        path = os.path.join(root, random_name(rnd, taken))
        size = rnd.choice([0, 1, rnd.randint(2, 5000), rnd.randint(5000, 300_000)])
        write(path, rnd.randbytes(size))
        os.chmod(path, 0o600 | rnd.getrandbits(9) & 0o177)
    if depth < 2:
        for _ in range(rnd.randint(0, 2)):
            sub = os.path.join(root, random_name(rnd, taken))
            os.mkdir(sub)
            build_tree(sub, rnd, depth + 1)
            os.chmod(sub, 0o700 | rnd.getrandbits(6))
    for _ in range(rnd.randint(0, 2)):
        target = rnd.choice(
            [
                random_name(rnd, set()),
                b"../" + random_name(rnd, set()),
                b"/nonexistent/" + random_name(rnd, set()),
                b"/etc/hostname",
            ]
        )
        os.symlink(target, os.path.join(root, random_name(rnd, taken)))


def build_fixed_features(root: bytes, rnd: random.Random) -> None:
    """What every example must contain, whatever the random part holds."""
    os.makedirs(os.path.join(root, b"features/empty dir"))
    os.makedirs(os.path.join(root, b"features/nested/empty\xe9"))
    write(os.path.join(root, b"features/empty file"), b"")
    write(os.path.join(root, b"features/run.sh"), b"#!/bin/sh\necho hi\n")
    os.chmod(os.path.join(root, b"features/run.sh"), 0o755)
    write(os.path.join(root, b"features/private"), b"secret")
    os.chmod(os.path.join(root, b"features/private"), 0o600)
    write(os.path.join(root, b"features/caf\xe9 \xff.bin"), rnd.randbytes(100))
    write(os.path.join(root, b"features/big.bin"), rnd.randbytes(rnd.randint(1, 3) << 20))
    os.symlink(b"run.sh", os.path.join(root, b"features/link to file"))
    os.symlink(b"nested", os.path.join(root, b"features/link to dir"))
    os.symlink(b"does/not/exist", os.path.join(root, b"features/dangling"))
    os.symlink(b"/usr/bin/env", os.path.join(root, b"features/absolute"))
    os.symlink(b"caf\xe9 \xff.bin", os.path.join(root, b"features/non-utf8 target"))


_counter = itertools.count()


@settings(
    max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 2**32 - 1))
def test_put_get_round_trip(cli, seed):
    rnd = random.Random(seed)
    name = f"tree{next(_counter)}"
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(os.fsencode(tmp), b"src")
        os.mkdir(src)
        build_fixed_features(src, rnd)
        build_tree(src, rnd)
        put = cli("put", os.fsdecode(src), "--name", name)
        assert put.code == 0, put.err
        assert put.out.strip().startswith(f"{name}:v")
        dest = os.path.join(tmp, "dest")
        got = cli("get", name, dest)
        assert got.code == 0, got.err
        assert snapshot(dest) == snapshot(src)


def test_unchanged_subtree_is_shared(cli, store, tmp_path):
    src = tmp_path / "src"
    rnd = random.Random(1)
    original = {
        rel: rnd.randbytes(1000)
        for rel in ["sub/a.txt", "sub/deep/b.bin", "other/c.txt", "top.txt"]
    }
    for rel, data in original.items():
        write(src / rel, data)
    os.makedirs(src / "sub/empty")
    os.symlink("a.txt", src / "sub/link")

    def put() -> str:
        result = cli("put", str(src), "--name", "ds")
        assert result.code == 0, result.err
        return result.out.strip()

    def dir_digest(label: str, path: bytes) -> bytes:
        entry = store.lookup(store.resolve(label).root, path)
        assert entry.kind == DIR
        return entry.digest

    assert put() == "ds:v0"
    write(src / "top.txt", b"changed")
    write(src / "other/new.txt", b"new")
    assert put() == "ds:v1"
    assert store.resolve("ds:v0").root != store.resolve("ds:v1").root
    assert dir_digest("ds:v0", b"sub") == dir_digest("ds:v1", b"sub")
    assert dir_digest("ds:v0", b"sub/deep") == dir_digest("ds:v1", b"sub/deep")
    assert dir_digest("ds:v0", b"other") != dir_digest("ds:v1", b"other")

    # A change deep inside changes every directory above it, and nothing beside it.
    write(src / "sub/deep/b.bin", b"edited")
    assert put() == "ds:v2"
    assert dir_digest("ds:v1", b"sub") != dir_digest("ds:v2", b"sub")
    assert dir_digest("ds:v1", b"sub/deep") != dir_digest("ds:v2", b"sub/deep")
    assert dir_digest("ds:v1", b"sub/empty") == dir_digest("ds:v2", b"sub/empty")
    assert dir_digest("ds:v1", b"other") == dir_digest("ds:v2", b"other")

    # Putting v1's content again gives a new version with v1's tree objects.
    write(src / "sub/deep/b.bin", original["sub/deep/b.bin"])
    assert put() == "ds:v3"
    assert dir_digest("ds:v3", b"sub") == dir_digest("ds:v0", b"sub")
    assert store.resolve("ds:v3").root == store.resolve("ds:v1").root
