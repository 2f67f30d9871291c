"""Adoption network: who influences whom when enterprises choose an AI provider.

Nodes are enterprises; an undirected edge means two enterprises see each other's choices
(suppliers, partners, peers in a sector). The influence of provider k on enterprise i is the
share of i's neighbours that use k,

    influence_ik = sum_j A_ij * [provider_j = k] / degree_i          dimensionless, in [0, 1]

computed for the rows that decide this month as one sparse matrix product A[rows] @ P, with P
the n x K one-hot matrix of current providers (evaluated as a gather and a count, which is what
the product reduces to for a one-hot P). The share of neighbours using any provider,
A @ adopted / degree, drives the hazard of trying AI at all; it is updated month to month from
the few enterprises whose adoption changed.

Graph kinds, all drawn from the model's numpy Generator and built directly as a scipy CSR
matrix with vectorised numpy (networkx's generators build Python dicts and take seconds at
50,000 nodes):

- small_world: Watts-Strogatz: a ring lattice with k = mean_degree neighbours, each edge
  rewired to a random node with probability rewire_prob.
- scale_free: Chung-Lu graph with BA-like expected degrees w_i proportional to (i + i0)^(-1/2)
  (degree distribution P(k) ~ k^-3, as Barabasi-Albert), mean degree as asked.
- sector_blocks: stochastic block model over the enterprises' sectors: a share
  within_sector_share of each node's edges stays inside its sector, the rest goes anywhere.

Self loops and duplicate edges are dropped, so realised mean degrees are a little below the
requested ones on small or dense graphs. `graph` gives the networkx view, built on demand.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import scipy.sparse as sp

NETWORK_KINDS = ("small_world", "scale_free", "sector_blocks")


class AdoptionNetwork:
    def __init__(
        self,
        n_nodes: int,
        kind: str,
        mean_degree: float,
        rng: np.random.Generator,
        sectors: np.ndarray | None = None,
        rewire_prob: float = 0.1,
        within_sector_share: float = 0.8,
    ) -> None:
        if kind not in NETWORK_KINDS:
            raise ValueError(f"kind: unknown value {kind!r}; allowed: {', '.join(NETWORK_KINDS)}")
        if n_nodes < 1:
            raise ValueError(f"n_nodes = {n_nodes}: must be at least 1")
        if mean_degree < 0:
            raise ValueError(f"mean_degree = {mean_degree}: must be >= 0")
        if not 0 <= rewire_prob <= 1:
            raise ValueError(f"rewire_prob = {rewire_prob}: must be in [0, 1]")
        if not 0 <= within_sector_share <= 1:
            raise ValueError(f"within_sector_share = {within_sector_share}: must be in [0, 1]")
        if sectors is not None and len(sectors) != n_nodes:
            raise ValueError(f"sectors has {len(sectors)} entries; n_nodes is {n_nodes}")
        self.n_nodes = n_nodes
        self.kind = kind
        mean_degree = min(mean_degree, n_nodes - 1)  # a small world cannot be denser
        if kind == "small_world":
            u, v = _small_world(n_nodes, mean_degree, rewire_prob, rng)
        elif kind == "scale_free":
            u, v = _scale_free(n_nodes, mean_degree, rng)
        else:
            if sectors is None:
                sectors = np.arange(n_nodes) * 10 // n_nodes
            u, v = _sector_blocks(np.asarray(sectors), mean_degree, within_sector_share, rng)
        self.adjacency = _symmetric_csr(n_nodes, u, v)
        self.degree = np.diff(self.adjacency.indptr)
        self._inv_degree = 1.0 / np.maximum(self.degree, 1)
        self._graph: nx.Graph | None = None
        self._last_adopted: np.ndarray | None = None
        self._counts = np.zeros(n_nodes, dtype=np.int64)

    @property
    def n_edges(self) -> int:
        return int(self.adjacency.nnz // 2)

    @property
    def graph(self) -> nx.Graph:
        if self._graph is None:
            self._graph = nx.from_scipy_sparse_array(self.adjacency)
        return self._graph

    # ------------------------------------------------------------------ influence
    def neighbour_shares(
        self, provider: np.ndarray, n_providers: int, rows: np.ndarray | None = None
    ) -> np.ndarray:
        """(rows x n_providers) share of each row's neighbours using each provider.

        This is the sparse product A[rows] @ P with P the one-hot provider matrix, evaluated
        the fast way for a one-hot P: gather the neighbours' providers and count them per row
        (provider -1, none, counts in a slot that is dropped)."""
        neighbours, lengths = self._neighbours_of(rows)
        m = len(lengths)
        slots = n_providers + 1
        neighbour_slot = provider[neighbours] + 1
        row_base = np.repeat(np.arange(m, dtype=np.int64) * slots, lengths)
        counts = np.bincount(row_base + neighbour_slot, minlength=m * slots)
        inv = self._inv_degree if rows is None else self._inv_degree[rows]
        return counts.reshape(m, slots)[:, 1:] * inv[:, None].astype(np.float32)

    def adopting_neighbour_share(
        self, provider: np.ndarray, rows: np.ndarray | None = None
    ) -> np.ndarray:
        """Share of each row's neighbours that use any provider, A @ adopted / degree.

        Month to month only a few enterprises start or stop using AI, so the counts are kept
        and updated from the rows of those that changed (exact integer counts, identical to
        recomputing them); a large change recomputes them with one sparse product."""
        counts = self._adopting_counts(provider >= 0)
        share = counts * self._inv_degree
        return share if rows is None else share[rows]

    def _adopting_counts(self, adopted: np.ndarray) -> np.ndarray:
        last = self._last_adopted
        if last is not None:
            changed = np.flatnonzero(adopted != last)
            if len(changed) <= self.n_nodes // 8:
                if len(changed):
                    neighbours, lengths = self._neighbours_of(changed)
                    sign = np.where(adopted[changed], 1, -1)
                    np.add.at(self._counts, neighbours, np.repeat(sign, lengths))
                    self._last_adopted[changed] = adopted[changed]
                return self._counts
        self._counts = np.rint(self.adjacency @ adopted.astype(np.float32)).astype(np.int64)
        self._last_adopted = adopted.copy()
        return self._counts

    def _neighbours_of(self, rows: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """The neighbour lists of `rows`, concatenated, and their lengths (a CSR row gather in
        plain numpy: cheaper than scipy's fancy indexing for the few hundred or thousand rows
        that change or decide in a month)."""
        indptr, indices = self.adjacency.indptr, self.adjacency.indices
        if rows is None:
            return indices, np.diff(indptr)
        starts = indptr[rows]
        lengths = indptr[np.asarray(rows) + 1] - starts
        ends = np.cumsum(lengths)
        offsets = np.repeat(starts - (ends - lengths), lengths)
        return indices[offsets + np.arange(ends[-1] if len(ends) else 0)], lengths

    def sample(self, max_nodes: int, rng: np.random.Generator) -> nx.Graph:
        """A connected-looking subgraph of at most `max_nodes` nodes for a picture: snowball
        outward from a few random seeds (breadth first), keeping the original node ids."""
        if self.n_nodes <= max_nodes:
            return self.graph.copy()
        chosen: list[int] = []
        seen = np.zeros(self.n_nodes, dtype=bool)
        indptr, indices = self.adjacency.indptr, self.adjacency.indices
        frontier: list[int] = []
        while len(chosen) < max_nodes:
            if not frontier:
                seed = int(rng.integers(self.n_nodes))
                if seen[seed]:
                    continue
                seen[seed] = True
                chosen.append(seed)
                frontier = [seed]
                continue
            node = frontier.pop(0)
            neighbours = indices[indptr[node] : indptr[node + 1]]
            for j in rng.permutation(neighbours)[:6]:  # a few per node: a broad sample
                if not seen[j] and len(chosen) < max_nodes:
                    seen[j] = True
                    chosen.append(int(j))
                    frontier.append(int(j))
        sub = self.adjacency[chosen][:, chosen]
        graph = nx.from_scipy_sparse_array(sub)
        return nx.relabel_nodes(graph, dict(enumerate(chosen)))


# ---------------------------------------------------------------------- generators
def _symmetric_csr(n: int, u: np.ndarray, v: np.ndarray) -> sp.csr_matrix:
    keep = u != v
    u, v = u[keep], v[keep]
    rows = np.concatenate([u, v])
    cols = np.concatenate([v, u])
    a = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(n, n))
    a.sum_duplicates()
    a.data[:] = 1.0  # duplicate edges count once
    return a


def _small_world(n: int, k: float, p: float, rng: np.random.Generator):
    half = max(1, int(round(k / 2))) if n > 2 and k >= 1 else 0
    u = np.repeat(np.arange(n), half)
    v = (u + np.tile(np.arange(1, half + 1), n)) % n
    rewire = rng.random(len(v)) < p
    v[rewire] = rng.integers(0, n, int(rewire.sum()))
    return u, v


def _scale_free(n: int, k: float, rng: np.random.Generator):
    n_edges = int(round(n * k / 2))
    weight = (np.arange(n) + 1.0) ** -0.5
    weight /= weight.sum()
    ends = rng.choice(n, size=(2, n_edges), p=weight)
    perm = rng.permutation(n)  # hubs anywhere, not only at the lowest ids
    return perm[ends[0]], perm[ends[1]]


def _sector_blocks(sectors: np.ndarray, k: float, within: float, rng: np.random.Generator):
    n = len(sectors)
    n_edges = int(round(n * k / 2))
    order = np.argsort(sectors, kind="stable")
    labels, start, size = np.unique(sectors[order], return_index=True, return_counts=True)
    block_of = np.searchsorted(labels, sectors)
    u = rng.integers(0, n, n_edges)
    inside = rng.random(n_edges) < within
    b = block_of[u]
    v_inside = order[start[b] + (rng.random(n_edges) * size[b]).astype(np.int64)]
    v_anywhere = rng.integers(0, n, n_edges)
    return u, np.where(inside, v_inside, v_anywhere)
