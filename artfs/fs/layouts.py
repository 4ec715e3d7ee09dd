"""Where a stored file's bytes are: its chunks and their offsets, cached by file digest.

A data loader opens the same files every epoch, and a 1 GiB shard has about a
thousand chunks: reading its chunk list from LMDB and summing the offsets on
every open made a reopen cost O(chunks) on the trio loop.  A file's digest
names its content, and its chunk list never changes while the store holds it,
so a layout is computed once per mount and kept (least recently used first out,
within a budget of chunks).

The one way a cached layout can go wrong is gc: it deletes the chunk lists of
files no version holds, and the same content committed again later may be cut
differently.  gc asks the mount what it holds before deleting anything, and
``keep_only`` then drops every other layout.
"""

from collections import OrderedDict
from itertools import accumulate

from artfs.store.store import Store
from artfs.store.tree import Entry

# Chunks described by the kept layouts: about 200 bytes each, so at most ~10 MiB; a
# 10,000-file dataset of small files and ten 1 GiB shards fit.
MAX_CHUNKS = 50_000


class Layout:
    """A file's chunks in order, with the offset each starts at (and the size last)."""

    __slots__ = ("chunks", "starts")

    def __init__(self, chunks: list[tuple[bytes, int]] | tuple[tuple[bytes, int], ...]):
        self.chunks = tuple(chunks)
        self.starts = (0, *accumulate(size for _, size in self.chunks))


class Layouts:
    """Layouts by file digest, each computed on its file's first open (one small LMDB
    record looked up on the loop; a file of one chunk has none)."""

    def __init__(self, store: Store, max_chunks: int = MAX_CHUNKS):
        self.store = store
        self.max_chunks = max_chunks
        self._kept: OrderedDict[bytes, Layout] = OrderedDict()
        self._chunks = 0

    def __len__(self) -> int:
        return len(self._kept)

    def of(self, entry: Entry) -> Layout:
        layout = self._kept.get(entry.digest)
        if layout is not None:
            self._kept.move_to_end(entry.digest)
            return layout
        layout = Layout(self.store.file_chunks(entry))
        if entry.size and len(layout.chunks) <= self.max_chunks:
            self._kept[entry.digest] = layout
            self._chunks += len(layout.chunks)
            while self._chunks > self.max_chunks:
                _, old = self._kept.popitem(last=False)
                self._chunks -= len(old.chunks)
        return layout

    def keep_only(self, digests: set[bytes]) -> None:
        """Forget the layouts of files not in ``digests`` (what gc is told the mount
        holds): their chunk lists may be deleted, and the content stored anew."""
        for digest in [d for d in self._kept if d not in digests]:
            self._chunks -= len(self._kept.pop(digest).chunks)
