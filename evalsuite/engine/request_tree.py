"""Scoring requests as one prefix tree, packed into rows with an ancestor mask.

A request ``(context, continuation)`` needs the model's outputs at the
positions of ``context[-1], continuation[:-2]``; its input sequence is
``context + continuation[:-1]``. Many requests share a prefix: the 4 choices of
a HellaSwag item share the context, the ~250 questions of an MMLU subject
share their 5-shot prefix (~600 tokens). All input sequences go into one
radix tree (built in O(total tokens) from the sequences sorted as bytes and the
longest common prefixes of neighbours), each tree token is computed once, and
every request reads its positions off the path from the root to its sequence's
end.

Rows: the tree is cut into *units* of at most ``capacity`` tokens (a node too
big for a row is split among its children, each part repeating the path from
the root), and units are packed into rows best-fit-decreasing. In a row laid
out in depth-first order, the tokens a token may attend to are exactly its
ancestors in the tree plus the earlier tokens of its own node, i.e. the keys k
with ``k <= q < end[k]`` where ``end[k]`` is where the subtree of k's node ends.
One integer per token therefore describes the whole mask; padding gets
``end = k + 1`` (it sees only itself, so no softmax row is empty).
"""

from __future__ import annotations

import bisect
import contextlib
import gc
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np

from evalsuite.engine.row_layout import Batch, _layout, _unit_is_chain

Request = tuple[Sequence[int], Sequence[int]]  # (context tokens, continuation tokens)
MIN_SHARED_PATH = 64  # tokens: a shorter shared prefix is repeated per child rather than shared under a mask


class _Node:
    __slots__ = ("seq", "start", "end", "children", "terminals", "parent", "size")

    def __init__(self, seq: np.ndarray, start: int, end: int, parent: "_Node | None") -> None:
        self.seq, self.start, self.end, self.parent = seq, start, end, parent
        self.children: list[_Node] = []
        self.terminals: list[int] = []  # unique-sequence ids whose sequence ends here
        self.size = 0  # tokens in this subtree

    @property
    def n(self) -> int:
        return self.end - self.start


@dataclass
class TreeStats:
    """What the tree saves: input tokens with and without sharing, and attention work (sum of depths)."""

    n_requests: int = 0
    n_sequences: int = 0  # distinct input sequences
    input_tokens: int = 0  # sum over requests of len(context + continuation[:-1]): the no-sharing baseline
    unique_tokens: int = 0  # tokens in the tree (each computed once if no row split repeated them)
    attended_keys: int = 0  # sum over tree tokens of (depth + 1): keys each token attends to
    scored_positions: int = 0  # LM-head positions (distinct (sequence, position) pairs)
    row_tokens: int = 0  # tokens actually laid out in rows (repeated paths included, padding excluded)
    padded_tokens: int = 0  # B * L summed over batches


class Plan:
    """Rows of units, laid out into :class:`Batch` es lazily (so layout overlaps the device's work)."""

    def __init__(self, rows, L_of, terminal, by_seq, per_request, batch_tokens: int, stats: TreeStats) -> None:
        self._rows, self._L_of, self._terminal = rows, L_of, terminal
        self._by_seq, self._per_request, self._batch_tokens = by_seq, per_request, batch_tokens
        self.stats = stats
        self.spans: list[tuple[int, int, int]] = []  # (first row, row count, L) per batch
        start = 0
        while start < len(rows):
            L = L_of(rows[start])
            n = max(1, min(len(rows) - start, batch_tokens // L))
            self.spans.append((start, n, L))
            stats.row_tokens += sum(u.size for r in rows[start:start + n] for u in r)
            stats.padded_tokens += n * L
            start += n

    def __len__(self) -> int:
        return len(self.spans)

    def batches(self) -> Iterator[Batch]:
        for start, n, L in self.spans:
            yield _layout(self._rows[start:start + n], L, self._terminal, self._by_seq, self._per_request)


def _as_array(tokens: Sequence[int], cache: dict[int, np.ndarray]) -> np.ndarray:
    key = id(tokens)
    arr = cache.get(key)
    if arr is None:
        arr = cache[key] = np.asarray(tokens, dtype=np.int64)
    return arr


def _sequences(requests: Sequence[Request]):
    """Distinct input sequences (as int64 arrays), and per request (sequence id, first scored depth, targets)."""
    by_bytes: dict[bytes, int] = {}
    seqs: list[np.ndarray] = []
    seq_keys: list[bytes] = []
    per_request: list[tuple[int, int, np.ndarray]] = []
    arrays: dict[int, np.ndarray] = {}  # contexts shared by object (lm-eval reuses them): convert once
    keys: dict[int, bytes] = {}
    for i, (ctx, cont) in enumerate(requests):
        if len(ctx) == 0 or len(cont) == 0:
            raise ValueError(f"request {i}: context and continuation must be non-empty token lists")
        c = _as_array(ctx, arrays)
        x = np.asarray(cont, dtype=np.int64)
        if len(x) == 1:
            seq, key = c, keys.get(id(ctx))
            if key is None:
                key = keys[id(ctx)] = c.astype(">u4").tobytes()
        else:
            seq = np.concatenate([c, x[:-1]])
            key = seq.astype(">u4").tobytes()
        uid = by_bytes.get(key)
        if uid is None:
            uid = by_bytes[key] = len(seqs)
            seqs.append(seq)
            seq_keys.append(key)
        per_request.append((uid, len(c) - 1, x))
    return seqs, seq_keys, per_request


def _lcp(a: np.ndarray, b: np.ndarray) -> int:
    m = min(len(a), len(b))
    diff = np.flatnonzero(a[:m] != b[:m])
    return int(diff[0]) if diff.size else m


def build_tree(seqs: list[np.ndarray], order: list[int]) -> tuple[_Node, list[_Node]]:
    """Radix tree of ``seqs`` visited in lexicographic ``order``; returns the root and each sequence's end node."""
    root = _Node(np.zeros(0, np.int64), 0, 0, None)
    terminal: list[_Node | None] = [None] * len(seqs)
    stack = [root]
    prev: np.ndarray | None = None
    for uid in order:
        s = seqs[uid]
        lcp = 0 if prev is None else _lcp(prev, s)
        last = None
        while stack[-1].end > lcp:
            last = stack.pop()
        top = stack[-1]
        if top.end < lcp:  # split `last` at depth lcp: its first (lcp - top.end) tokens become a shared node
            assert last is not None and last.start < lcp < last.end
            mid = _Node(last.seq, last.start, lcp, top)
            top.children[top.children.index(last)] = mid
            last.start, last.parent = lcp, mid
            mid.children.append(last)
            stack.append(mid)
            top = mid
        assert lcp < len(s), "sorted distinct sequences: a later one is never a prefix of an earlier one"
        leaf = _Node(s, lcp, len(s), top)
        top.children.append(leaf)
        leaf.terminals.append(uid)
        terminal[uid] = leaf
        stack.append(leaf)
        prev = s
    _sizes(root)
    return root, terminal  # type: ignore[return-value]


def _sizes(root: _Node) -> None:
    order, todo = [], [root]
    while todo:
        node = todo.pop()
        order.append(node)
        todo.extend(node.children)
    for node in reversed(order):
        node.size = node.n + sum(c.size for c in node.children)


@dataclass
class _Unit:
    path: list[_Node]  # root .. split node: repeated in every unit of that split
    subtrees: list[_Node]
    owned_path_terminals: list[int]  # sequences ending on the path that this unit (and no other) scores

    @property
    def size(self) -> int:
        return sum(n.n for n in self.path) + sum(s.size for s in self.subtrees)


def _best_fit(sizes: list[int], capacity: int) -> list[list[int]]:
    """Bins of item indices, best-fit decreasing (sorted list of free space: O(n log n))."""
    bins: list[list[int]] = []
    free: list[tuple[int, int]] = []  # (free space, bin index), sorted
    for i in sorted(range(len(sizes)), key=lambda j: -sizes[j]):
        k = bisect.bisect_left(free, (sizes[i], -1))
        if k < len(free):
            space, b = free.pop(k)
            bins[b].append(i)
            bisect.insort(free, (space - sizes[i], b))
        else:
            bins.append([i])  # an item larger than capacity gets a bin of its own size
            bisect.insort(free, (max(capacity - sizes[i], 0), len(bins) - 1))
    return bins


def _units(root: _Node, capacity: int) -> list[_Unit]:
    if root.size <= capacity:
        return [_Unit([root], list(root.children), list(root.terminals))]
    out: list[_Unit] = []
    todo: list[tuple[_Node, list[_Node]]] = [(root, [])]
    while todo:
        node, path = todo.pop()
        path = path + [node]
        # A long shared path gets rows up to twice its length, so it is amortised over several children
        # (an MMLU subject whose 5-shot prefix is longer than row_tokens).
        used = sum(n.n for n in path)
        room = max(capacity - used, used)
        small = [c for c in node.children if c.size <= room]
        first = len(out)
        # Grouping children under a short shared path saves almost nothing and turns plain sequences (rolling
        # windows that share a BOS) into masked rows: below MIN_SHARED_PATH each child is a unit of its own.
        bins = _best_fit([c.size for c in small], room) if used >= MIN_SHARED_PATH else [[i] for i in range(len(small))]
        for b in bins:
            out.append(_Unit(path, [small[i] for i in b], []))
        big = [c for c in node.children if c.size > room]
        if big and first == len(out):  # the node's own terminals go to the first unit made below it
            todo.append((big[0], path))
            rest = big[1:]
            _defer_terminals(node, big[0])
        else:
            rest = big
            if first == len(out):
                out.append(_Unit(path, [], []))
            out[first].owned_path_terminals.extend(node.terminals)
        todo.extend((c, path) for c in rest)
    return out


def _defer_terminals(node: _Node, child: _Node) -> None:
    # Sequences ending at `node` are scored in the first unit split from `child` (its path holds node).
    child.terminals = list(node.terminals) + child.terminals if node.terminals else child.terminals
    node.terminals = []


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection inside the block (the collector's previous state restored after it).

    Planning allocates ~5 containers per request (nodes with their children and terminals lists,
    per-request tuples), which sets off the collector's full passes over everything the evaluation holds
    (lm-eval's Instances and documents, the token lists): inside a 0-shot HellaSwag run they doubled
    planning time (0.35 s -> 0.7 s on a 2-core CPU host). The tree's parent links are its only cycles,
    collected as usual once the plan is dropped; nothing else changes.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def build_plan(requests: Sequence[Request], *, capacity: int, batch_tokens: int, max_length: int,
               align: int = 8, share: bool = True) -> Plan:
    """Batches that compute every request's scored positions, each tree token once per unit.

    ``share=False``: every distinct input sequence gets a row of its own (plain causal, no mask, nothing
    packed beside it), for models whose recurrent (linear-attention) layers would carry state from one
    sequence into the next or ignore a tree mask. Identical sequences are still computed once.
    """
    with _collector_paused():
        return _build_plan(requests, capacity=capacity, batch_tokens=batch_tokens, max_length=max_length,
                           align=align, share=share)


def _build_plan(requests: Sequence[Request], *, capacity: int, batch_tokens: int, max_length: int,
                align: int, share: bool = True) -> Plan:
    seqs, keys, per_request = _sequences(requests)
    stats = TreeStats(n_requests=len(requests), n_sequences=len(seqs))
    assert max(len(s) for s in seqs) <= max_length, "callers check max_length before planning"
    order = sorted(range(len(seqs)), key=keys.__getitem__)  # big-endian bytes sort as token sequences do
    root, terminal = build_tree(seqs, order)
    stats.input_tokens = sum(len(seqs[u]) for u, _, _ in per_request)
    _tree_stats(root, stats)
    by_seq: dict[int, list[int]] = {}
    for r, (uid, _, _) in enumerate(per_request):
        by_seq.setdefault(uid, []).append(r)
    stats.scored_positions = sum(len(seqs[u]) - min(per_request[r][1] for r in rs) for u, rs in by_seq.items())
    if not share:
        rows = sorted(([_sequence_unit(terminal[uid], uid)] for uid in range(len(seqs))), key=lambda r: -r[0].size)
        stats.unique_tokens = sum(len(seq) for seq in seqs)  # nothing shared: each distinct sequence in full
        return Plan(rows, lambda row: _round_up(row[0].size, align), terminal, by_seq, per_request, batch_tokens,
                    stats)
    units = _units(root, capacity)
    # A plain sequence (a rolling window) keeps a row to itself: rows of one sequence need no mask and run on
    # the fused causal kernels; packing short windows together forced the masked kernel (a third of
    # WikiText's attention time on the H200). Batches group rows of similar length, so padding stays small.
    chains = [u for u in units if _unit_is_chain(u)]
    trees = [u for u in units if not _unit_is_chain(u)]
    rows = [[u] for u in chains] + [[trees[i] for i in b] for b in _best_fit([u.size for u in trees], capacity)]
    rows.sort(key=lambda r: -sum(u.size for u in r))
    return Plan(rows, lambda row: _round_up(sum(u.size for u in row), align), terminal, by_seq, per_request,
                batch_tokens, stats)


def _sequence_unit(node: _Node, uid: int) -> _Unit:
    """The whole path root -> ``node`` as one chain unit that scores sequence ``uid`` alone."""
    path = []
    cur: _Node | None = node
    while cur is not None:
        path.append(cur)
        cur = cur.parent
    return _Unit(path[::-1], [], [uid])


def _round_up(n: int, k: int) -> int:
    return -(-n // k) * k


def _tree_stats(root: _Node, stats: TreeStats) -> None:
    todo = [root]
    while todo:
        node = todo.pop()
        stats.unique_tokens += node.n
        # depths start .. end-1 attend to depth+1 keys each
        stats.attended_keys += (node.start + 1 + node.end) * node.n // 2
        todo.extend(node.children)
