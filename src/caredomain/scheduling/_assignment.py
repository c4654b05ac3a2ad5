"""Exact min-cost assignment with optional unassignment, on sparse candidate lists.

Rules of this module:

1. It knows nothing about slots, requests or time: rows, columns, costs. The optimizer
   compiles its problem into this shape and reads the answer back.
2. Every row may stay unassigned at its own ``dummy`` cost (a private column nobody else can
   take), so a solution always exists and "leave it on the waitlist" is priced exactly.
3. The answer is exact, not approximate: shortest augmenting paths (Dijkstra on reduced costs
   with row and column potentials, as in Jonker & Volgenant 1987 and Crouse 2016, which is the
   algorithm behind ``scipy.optimize.linear_sum_assignment``), done sparsely with a heap so
   that a row only ever looks at its own candidates. Costs may be any non-negative floats.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

__all__ = ["solve_assignment"]

_INF = float("inf")


def solve_assignment(
    n_columns: int,
    rows: Sequence[Sequence[tuple[int, float]]],
    dummy: Sequence[float],
) -> tuple[list[int], list[float]]:
    """The min-cost assignment of rows to distinct columns, each row optionally left out.

    Minimizes the sum over rows of the chosen edge's cost, or ``dummy[row]`` for a row left
    unassigned, subject to every column taking at most one row.

    Args:
        n_columns: Columns are ``0 .. n_columns - 1``.
        rows: For each row, its candidate ``(column, cost)`` edges; costs are finite and
            non-negative, and a column appears at most once per row.
        dummy: For each row, the cost of leaving it unassigned (finite, non-negative).

    Returns:
        For each row, its column or ``-1`` when it is left unassigned; and for each column,
        its price: minus its optimal dual value, ``0`` for a column nobody competed for, and
        more the more the other rows would lose without it.
    """
    n_rows = len(rows)
    total = n_columns + n_rows  # column n_columns + i is row i's private "unassigned" column
    u = [0.0] * n_rows  # row potentials
    v = [0.0] * total  # column potentials
    row_of = [-1] * total
    col_of = [-1] * n_rows
    # Each row's edges, with its private dummy column appended.
    adjacency = [[*edges, (n_columns + i, dummy[i])] for i, edges in enumerate(rows)]

    spc = [_INF] * total  # shortest path cost to each column, reset after each augmentation
    path = [-1] * total
    done = [False] * total
    push, pop = heapq.heappush, heapq.heappop

    for free in range(n_rows):
        touched: list[int] = []
        scanned: list[int] = []
        scanned_rows: list[int] = []
        heap: list[tuple[float, int]] = []
        row = free
        low = 0.0
        sink = -1
        while True:
            scanned_rows.append(row)
            base = low - u[row]
            for col, cost in adjacency[row]:
                if done[col]:
                    continue
                reduced = base + cost - v[col]
                if reduced < spc[col]:
                    if spc[col] == _INF:
                        touched.append(col)
                    spc[col] = reduced
                    path[col] = row
                    push(heap, (reduced, col))
            while True:
                low, col = pop(heap)
                if not done[col] and low <= spc[col]:
                    break
            done[col] = True
            scanned.append(col)
            if row_of[col] == -1:
                sink = col
                break
            row = row_of[col]

        # Update the potentials so that reduced costs stay non-negative and are zero on
        # matched edges (Crouse 2016, algorithm 1, lines 25-27).
        u[free] += low
        for r in scanned_rows:
            if r != free:
                u[r] += low - spc[col_of[r]]
        for c in scanned:
            v[c] -= low - spc[c]

        # Augment along the path back to the free row.
        col = sink
        while True:
            r = path[col]
            row_of[col] = r
            col, col_of[r] = col_of[r], col
            if r == free:
                break

        for c in touched:
            spc[c] = _INF
            done[c] = False
            path[c] = -1

    return [c if c < n_columns else -1 for c in col_of], [-x for x in v[:n_columns]]
