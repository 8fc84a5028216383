"""How packed units of the request tree (:mod:`evalsuite.engine.request_tree`) become one forward pass: the
(B, L) token ids, positions and ancestor-mask ends of a :class:`Batch`, and where each request's scored
positions sit in it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from evalsuite.engine.request_tree import _Node, _Unit


@dataclass
class Batch:
    """One forward pass: (B, L) token ids, positions and mask ends, and where to read each request's scores."""

    input_ids: np.ndarray  # (B, L) int64
    position_ids: np.ndarray  # (B, L) int64
    end: np.ndarray  # (B, L) int32: key k is visible to query q iff k <= q < end[k] (row-local indices)
    chain: bool  # every row is a single unbranched sequence from position 0: plain causal attention suffices
    flat_index: np.ndarray  # (n,) int64 indices into B*L whose next-token logits are scored
    target: np.ndarray  # (n,) int64 the token scored at each index
    request: np.ndarray  # (n,) int64 the request each scored position belongs to


def _layout(rows: list[list[_Unit]], L: int, terminal: list[_Node], by_seq: dict[int, list[int]],
            per_request: list[tuple[int, int, np.ndarray]]) -> Batch:
    B = len(rows)
    ids = np.zeros((B, L), np.int64)
    pos = np.zeros((B, L), np.int64)
    end = np.arange(1, L + 1, dtype=np.int32)[None].repeat(B, 0)  # padding: sees itself only
    chain = True
    fidx: list[np.ndarray] = []
    ftok: list[np.ndarray] = []
    freq: list[np.ndarray] = []
    for b, row in enumerate(rows):
        t = 0
        chain &= len(row) == 1
        for unit in row:
            offsets: dict[int, int] = {}
            unit_end = t + unit.size
            for node in unit.path:
                _put(ids, pos, end, b, t, node, unit_end)
                offsets[id(node)] = t
                t += node.n
            owned = list(unit.owned_path_terminals)
            todo = list(reversed(unit.subtrees))
            while todo:  # depth-first, children in order
                node = todo.pop()
                _put(ids, pos, end, b, t, node, t + node.size)
                offsets[id(node)] = t
                t += node.n
                owned.extend(node.terminals)
                todo.extend(reversed(node.children))
            chain &= _unit_is_chain(unit)
            for uid in owned:
                for r in by_seq[uid]:
                    _, first, targets = per_request[r]
                    depths = np.arange(first, first + len(targets))
                    fidx.append(b * L + _row_index(terminal[uid], depths, offsets))
                    ftok.append(targets)
                    freq.append(np.full(len(targets), r, np.int64))
            assert t == unit_end
    cat = (lambda xs: np.concatenate(xs) if xs else np.zeros(0, np.int64))  # noqa: E731
    return Batch(ids, pos, end, chain, cat(fidx), cat(ftok), cat(freq))


def _unit_is_chain(unit: _Unit) -> bool:
    return len(unit.subtrees) <= 1 and _is_chain(unit.subtrees[0] if unit.subtrees else None)


def _is_chain(node: _Node | None) -> bool:
    while node is not None:
        if len(node.children) > 1:
            return False
        node = node.children[0] if node.children else None
    return True


def _put(ids, pos, end, b: int, t: int, node: _Node, subtree_end: int) -> None:
    n = node.n
    ids[b, t:t + n] = node.seq[node.start:node.end]
    pos[b, t:t + n] = np.arange(node.start, node.end)
    end[b, t:t + n] = subtree_end


def _row_index(node: _Node, depths: np.ndarray, offsets: dict[int, int]) -> np.ndarray:
    """Row indices of ``depths`` on the path root -> node (walking up from the terminal node)."""
    out = np.empty(len(depths), np.int64)
    todo = np.ones(len(depths), bool)
    cur: _Node | None = node
    while todo.any():
        assert cur is not None, "scored depth above the root"
        hit = todo & (depths >= cur.start) & (depths < cur.end)
        if hit.any():
            out[hit] = offsets[id(cur)] + depths[hit] - cur.start
            todo &= ~hit
        cur = cur.parent
    return out
