"""Adoption network: who influences whom when enterprises choose an AI provider.

Mechanism (peer effects). Nodes are enterprises; an undirected edge i-j means the two see and
copy each other's choices (suppliers, partners, peers in a sector). With A the n x n symmetric
0/1 adjacency matrix, degree_i = sum_j A_ij, and provider_j in {-1 (none), 0, ..., K-1}, the
influence of provider k on enterprise i is the share of i's neighbours that use k:

    influence_ik = (sum_j A_ij * 1[provider_j = k]) / degree_i       dimensionless, in [0, 1]

(0 for a node with no neighbours). For the rows that decide in a month it is computed as one
sparse matrix product, A[rows] @ P, with P the n x K sparse one-hot provider matrix
(P_jk = 1[provider_j = k]), each row then divided by its degree. Since row j of P holds its
single 1 in column provider_j, the product is evaluated by composing indices: the CSR entries
of A[rows], gathered straight from the index arrays, with each column index j replaced by
provider_j, duplicates summed by one bincount (the same numbers as scipy's sparse-sparse
product, exact integer counts, with no sparse matrix built). The share of neighbours that use
any provider, adopting_i = sum_k influence_ik = (A @ 1[provider >= 0])_i / degree_i, drives
the hazard of trying AI at all (Bass imitation term).

Graph kinds (NETWORK_KINDS), every random draw from the numpy Generator given, built directly
as a scipy CSR matrix by vectorised numpy (networkx's generators plus the conversion to CSR
take 2 to 12 s at 50,000 nodes and 500,000 edges; these take well under a second):

- small_world: Watts-Strogatz. A ring lattice in which each node links to its k/2 nearest
  neighbours on each side (k = mean_degree rounded, halves up, to an even number >= 2); each
  lattice edge (u, v) has its far end v replaced by a uniformly random node other than u
  with probability rewire_prob.
- scale_free: Barabasi-Albert preferential attachment with m = max(1, round(mean_degree / 2))
  edges per new node, starting from a star on m + 1 nodes: a new node links to an existing
  node with probability proportional to its degree (P(k) ~ k^-3 tail, mean degree ~ 2m). It
  is the "repeated nodes" algorithm: the first 1,000 nodes one by one with m distinct targets
  (as networkx), the rest vectorised (each new edge copies a uniformly drawn earlier slot of
  the repeated-nodes list; chains of copies resolved by pointer jumping). Node ids are
  shuffled afterwards so that hubs are not the lowest ids.
- sector_blocks: stochastic block model over the enterprises' sectors (10 equal blocks if no
  sectors are given). Expected degree mean_degree, of which a share within_sector_share lies
  inside the node's own sector: the number of within-sector edges of each sector is drawn
  from a binomial over its node pairs (p = within_sector_share * mean_degree / (size - 1)),
  the number of between-sector edges from a binomial over all between-sector pairs; their
  endpoints are drawn uniformly (one end anywhere, the other outside its sector). A sector
  too small for its share (size - 1 < within_sector_share * mean_degree) fills up instead;
  with a single sector every edge is inside it.

Self loops and duplicate edges are dropped, so realised mean degrees are slightly below the
requested ones on small or dense graphs; a mean degree that the node count cannot hold is
capped, not refused (at most n - 1, and the generators' own limits), so that a model of one
or a few enterprises runs with the default mean degree; mean_degree 0 gives no edges.
`graph` gives the networkx view, built on first use; `sample` a small connected-looking
subgraph for pictures.
"""

from __future__ import annotations

import math
from numbers import Integral

import networkx as nx
import numpy as np
import scipy.sparse as sp

NETWORK_KINDS = ("small_world", "scale_free", "sector_blocks")
DEFAULT_SECTORS = 10  # equal blocks used by sector_blocks when no sectors are given
BA_EXACT_PREFIX = 1000  # scale_free: nodes added one by one before the vectorised growth


class AdoptionNetwork:
    """The enterprises' peer network and the influence shares read off it.

    influence_ik = (sum_j A_ij * 1[provider_j = k]) / degree_i: the share of node i's
    neighbours that use provider k, dimensionless in [0, 1], 0 for an isolated node. It is
    evaluated as one sparse product A[rows] @ P, P the n x K sparse one-hot provider matrix,
    divided row by row by degree_i (`neighbour_shares`). Its sum over k, the share of
    neighbours using any provider, is `adopting_neighbour_share`.

    Attributes: n_nodes; kind (one of NETWORK_KINDS); adjacency, an n x n symmetric
    scipy.sparse.csr_matrix of float32 ones with no self loops and sorted indices; degree, the
    int64 number of neighbours of each node. See the module docstring for the graph kinds.
    """

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
            raise ValueError(f"kind = {kind!r} is unknown; allowed: {', '.join(NETWORK_KINDS)}")
        if isinstance(n_nodes, bool) or not isinstance(n_nodes, Integral) or n_nodes < 1:
            raise ValueError(f"n_nodes = {n_nodes!r}: must be an integer >= 1")
        if not math.isfinite(mean_degree) or mean_degree < 0:
            raise ValueError(
                f"mean_degree = {mean_degree!r}: must be finite and >= 0 "
                f"(values above n_nodes - 1 = {n_nodes - 1} are capped there)"
            )
        if not 0 <= rewire_prob <= 1:
            raise ValueError(f"rewire_prob = {rewire_prob!r}: must be in [0, 1]")
        if not 0 <= within_sector_share <= 1:
            raise ValueError(f"within_sector_share = {within_sector_share!r}: must be in [0, 1]")
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, not {type(rng).__name__}")
        if sectors is not None:
            sectors = np.asarray(sectors)
            if sectors.ndim != 1 or len(sectors) != n_nodes:
                raise ValueError(
                    f"sectors has shape {sectors.shape}: must be one sector per node, "
                    f"shape ({n_nodes},)"
                )
        n_nodes = int(n_nodes)
        self.n_nodes = n_nodes
        self.kind = kind
        self.mean_degree = float(mean_degree)  # as asked; the realised one is degree.mean()
        k = min(float(mean_degree), n_nodes - 1.0)  # more neighbours than nodes: capped

        if kind == "small_world":
            u, v = _small_world(n_nodes, k, float(rewire_prob), rng)
        elif kind == "scale_free":
            u, v = _scale_free(n_nodes, k, rng)
        else:
            if sectors is None:
                sectors = np.arange(n_nodes) * DEFAULT_SECTORS // n_nodes
            u, v = _sector_blocks(sectors, k, float(within_sector_share), rng)
        self.adjacency = _symmetric_csr(n_nodes, u, v)
        self.degree = np.diff(self.adjacency.indptr).astype(np.int64)
        self._inv_degree = 1.0 / np.maximum(self.degree, 1)  # isolated nodes: share 0
        self._row_block = None  # (rows array, its `_entries`, their 1/degree): a fixed
        # sample asked for every month (the consumer-surplus rows) is sliced once
        self._graph: nx.Graph | None = None
        # adopting_neighbour_share keeps its neighbour counts between calls (see there)
        self._last_adopted: np.ndarray | None = None
        self._adopting = np.zeros(n_nodes, dtype=np.int64)

    @property
    def n_edges(self) -> int:
        """Number of undirected edges."""
        return int(self.adjacency.nnz // 2)

    @property
    def graph(self) -> nx.Graph:
        """The network as a networkx Graph (built from the adjacency on first use, cached;
        a few seconds at a million edges)."""
        if self._graph is None:
            self._graph = nx.from_scipy_sparse_array(self.adjacency)
        return self._graph

    # ---------------------------------------------------------------------------- influence
    def neighbour_shares(
        self, provider: np.ndarray, n_providers: int, rows: np.ndarray | None = None
    ) -> np.ndarray:
        """influence_ik = (A[rows] @ P)_ik / degree_i for each row i and provider k.

        provider: int array of length n_nodes, -1 for no provider, else 0..n_providers-1.
        rows: node indices (default all nodes). Returns a dense float64 array,
        (len(rows) or n_nodes) x n_providers; a row whose node has no neighbours is all zeros.

        One sparse product, the adjacency rows times the one-hot provider matrix P
        (P_jk = 1[provider_j = k], with an extra column for "no provider" that is dropped).
        Row j of P has its single 1 in column provider_j, so the product A[rows] @ P is the
        CSR entries of A[rows] with each column index j replaced by provider_j, duplicates
        summed (one integer bincount over row x column): the same numbers as scipy's
        sparse-sparse product, with no sparse matrix built."""
        provider = self._check_provider(provider)
        if isinstance(n_providers, bool) or not isinstance(n_providers, Integral):
            raise ValueError(f"n_providers = {n_providers!r}: must be an integer >= 0")
        k = int(n_providers)
        if k < 0:
            raise ValueError(f"n_providers = {k}: must be >= 0")
        if len(provider) and (provider.min() < -1 or provider.max() >= k):
            raise ValueError(
                f"provider holds values in {int(provider.min())}..{int(provider.max())}: "
                f"must be -1 (none) or in 0..{k - 1} (n_providers = {k})"
            )
        if rows is None:
            rows = np.arange(self.n_nodes)
        if self._row_block is not None and self._row_block[0] is rows:
            (row_of, neighbour), inv = self._row_block[1], self._row_block[2]
        else:
            rows = self._check_rows(rows)
            (row_of, neighbour), inv = self._entries(rows), self._inv_degree[rows]
        column = provider.astype(np.int64, copy=False)[neighbour]
        column[column < 0] = k  # no provider: the dropped column k
        # counts_ik = the number of the row's neighbours j with provider_j = k (A is 0/1)
        counts = np.bincount(row_of * (k + 1) + column, minlength=len(rows) * (k + 1))
        return counts.reshape(len(rows), k + 1)[:, :k] * inv[:, None]

    def keep_rows(self, rows: np.ndarray) -> None:
        """Slice the adjacency for `rows` once: later calls with this same array reuse it."""
        checked = self._check_rows(rows)
        self._row_block = (rows, self._entries(checked), self._inv_degree[checked])

    def _entries(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The CSR entries of A[rows] (each A_ij = 1): for each, its position in `rows` and
        its column (the neighbour j), in row order; read off indptr/indices directly (no
        scipy fancy indexing)."""
        a = self.adjacency
        start = a.indptr[:-1][rows].astype(np.int64)  # (a negative row counts from the end)
        length = a.indptr[1:][rows] - start
        row_of = np.repeat(np.arange(len(start)), length)
        # entry position: its row's start plus its offset within the row
        first = np.cumsum(length) - length
        at = np.repeat(start - first, length) + np.arange(len(row_of))
        return row_of, a.indices[at]

    def adopting_neighbour_share(
        self, provider: np.ndarray, rows: np.ndarray | None = None
    ) -> np.ndarray:
        """adopting_i = (A @ 1[provider >= 0])_i / degree_i: the share of each row's
        neighbours that use any provider (float64, 0 for an isolated node); equal to the row
        sums of `neighbour_shares`.

        Month to month only a few enterprises start or stop using AI, so the neighbour counts
        are kept between calls and updated from the neighbour lists of the nodes whose
        adoption changed since the last call (exact integer counts, identical to recomputing
        them); when more than an eighth changed they are recomputed by one sparse product."""
        provider = self._check_provider(provider)
        counts = self._adopting_counts(provider >= 0)
        if rows is None:
            return counts * self._inv_degree
        rows = self._check_rows(rows)
        return counts[rows] * self._inv_degree[rows]

    def _adopting_counts(self, adopted: np.ndarray) -> np.ndarray:
        last = self._last_adopted
        if last is not None:
            changed = np.flatnonzero(adopted != last)
            if len(changed) <= self.n_nodes // 8:
                if len(changed):
                    row_of, neighbour = self._entries(changed)
                    sign = np.where(adopted[changed], 1, -1)
                    np.add.at(self._adopting, neighbour, sign[row_of])
                    last[changed] = adopted[changed]
                return self._adopting
        product = self.adjacency @ adopted.astype(np.float32)
        self._adopting = np.rint(product).astype(np.int64)
        self._last_adopted = adopted.copy()
        return self._adopting

    def _check_provider(self, provider: np.ndarray) -> np.ndarray:
        provider = np.asarray(provider)
        if provider.shape != (self.n_nodes,) or not np.issubdtype(provider.dtype, np.integer):
            raise ValueError(
                f"provider has shape {provider.shape} and dtype {provider.dtype}: must be one "
                f"integer per node, shape ({self.n_nodes},)"
            )
        return provider

    def _check_rows(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows)
        if rows.size == 0:
            return rows.astype(np.intp)
        if rows.dtype == bool or not np.issubdtype(rows.dtype, np.integer) or rows.ndim != 1:
            raise ValueError(f"rows has dtype {rows.dtype}: must be a 1-d array of node indices")
        return rows

    # ------------------------------------------------------------------------------- picture
    def sample(self, max_nodes: int, rng: np.random.Generator) -> nx.Graph:
        """The subgraph induced on at most `max_nodes` nodes, for a picture, keeping the node
        ids. Nodes are gathered by a snowball (breadth first, up to 6 random neighbours of
        each node reached) from random seed nodes, a new seed whenever a snowball stops, so
        the sample keeps neighbourhoods and has edges, unlike a uniform sample."""
        max_nodes = int(max_nodes)
        if max_nodes < 0:
            raise ValueError(f"max_nodes = {max_nodes}: must be >= 0")
        if self.n_nodes <= max_nodes:
            return self.graph.copy()
        indptr, indices = self.adjacency.indptr, self.adjacency.indices
        seen = np.zeros(self.n_nodes, dtype=bool)
        chosen: list[int] = []
        seeds = iter(rng.permutation(self.n_nodes).tolist())
        frontier: list[int] = []
        head = 0
        while len(chosen) < max_nodes:
            if head == len(frontier):  # snowball stopped: start another from a fresh seed
                seed = next(s for s in seeds if not seen[s])
                seen[seed] = True
                chosen.append(seed)
                frontier, head = [seed], 0
                continue
            node = frontier[head]
            head += 1
            neighbours = indices[indptr[node] : indptr[node + 1]]
            for j in rng.permutation(neighbours)[:6].tolist():
                if not seen[j] and len(chosen) < max_nodes:
                    seen[j] = True
                    chosen.append(j)
                    frontier.append(j)
        nodes = np.sort(np.array(chosen, dtype=np.int64))
        graph = nx.from_scipy_sparse_array(self.adjacency[nodes][:, nodes])
        return nx.relabel_nodes(graph, dict(enumerate(nodes.tolist())))


# ---------------------------------------------------------------------------------- builders
def _symmetric_csr(n: int, u: np.ndarray, v: np.ndarray) -> sp.csr_matrix:
    """Symmetric 0/1 float32 CSR from edge lists, self loops and duplicate edges dropped."""
    keep = u != v
    u, v = u[keep].astype(np.int32), v[keep].astype(np.int32)
    rows, cols = np.concatenate([u, v]), np.concatenate([v, u])
    a = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(n, n))
    a.sum_duplicates()  # sorts the indices within each row, sums repeated entries
    a.data[:] = 1.0  # an edge drawn twice counts once
    return a


def _round_half_up(x: float) -> int:
    return math.floor(x + 0.5)  # 2.5 -> 3 (Python's round gives 2: 5 and 3 would both be 4)


def _no_edges() -> tuple[np.ndarray, np.ndarray]:
    empty = np.zeros(0, dtype=np.int64)
    return empty, empty


def _small_world(n: int, k: float, p: float, rng: np.random.Generator):
    """Watts-Strogatz: ring lattice with k/2 neighbours each side, far ends rewired w.p. p."""
    if n < 2 or k <= 0:
        return _no_edges()
    half = min(max(1, _round_half_up(k / 2)), n // 2)  # k even >= 2; at most the complete graph
    u = np.repeat(np.arange(n, dtype=np.int64), half)
    v = (u + np.tile(np.arange(1, half + 1, dtype=np.int64), n)) % n
    rewire = np.flatnonzero(rng.random(len(v)) < p)
    v[rewire] = (u[rewire] + rng.integers(1, n, len(rewire))) % n  # any node but u itself
    return u, v


def _scale_free(n: int, k: float, rng: np.random.Generator):
    """Barabasi-Albert, m = max(1, round(k / 2)) edges per new node, from a star on nodes
    0..m, by the repeated-nodes algorithm: the list holds each node once per edge end, and a
    new node's targets are drawn uniformly from it (probability proportional to degree).

    Edge e fills slots 2e (its new node) and 2e + 1 (its target) of the list. The first
    BA_EXACT_PREFIX nodes are added one by one with m distinct targets, as networkx does
    (drawn with replacement early on, repeats would inflate the first hubs' weight and double
    the maximum degree). The rest, vectorised: an edge of node t copies a uniform slot among
    the 2 * m * (t - m) written before t; slot 2e' is a known node, slot 2e' + 1 is the target
    of an earlier edge e', resolved by pointer jumping. The rare repeat there becomes a
    duplicate edge and is dropped."""
    if n < 2 or k <= 0:
        return _no_edges()
    m = min(max(1, _round_half_up(k / 2)), n - 1)
    n_edges = m * (n - m)  # the star's m edges, then m for each new node
    repeated = [end for e in range(m) for end in (0, e + 1)]  # slot 2e: 0, slot 2e + 1: e + 1
    for t in range(m + 1, min(n, BA_EXACT_PREFIX)):
        chosen: dict[int, None] = {}  # insertion-ordered set: reproducible
        while len(chosen) < m:
            for x in rng.integers(0, len(repeated), m - len(chosen)).tolist():
                chosen[repeated[x]] = None
        for node in chosen:
            repeated += (t, node)
    ends = np.array(repeated, dtype=np.int64)
    source = np.empty(n_edges, dtype=np.int64)
    target = np.full(n_edges, -1, dtype=np.int64)
    first = len(ends) // 2  # edges laid down so far
    source[:first], target[:first] = ends[0::2], ends[1::2]
    new_node = n - (n_edges - first) // m + np.arange(n_edges - first, dtype=np.int64) // m
    source[first:] = new_node
    slot = rng.integers(0, 2 * m * (new_node - m))
    earlier = slot >> 1
    copies = (slot & 1).astype(bool)
    target[first:][~copies] = source[earlier[~copies]]
    pointer = np.arange(n_edges, dtype=np.int64)
    pointer[first:][copies] = earlier[copies]
    todo = first + np.flatnonzero(copies)
    while len(todo):  # pointers point strictly back, so chains end; jumping halves them
        ahead = pointer[todo]
        found = target[ahead]
        done = found >= 0
        target[todo[done]] = found[done]
        todo = todo[~done]
        pointer[todo] = pointer[ahead[~done]]
    relabel = rng.permutation(n)  # hubs anywhere, not at the lowest ids
    return relabel[source], relabel[target]


def _sector_blocks(sectors: np.ndarray, k: float, within: float, rng: np.random.Generator):
    """Stochastic block model: per sector a binomial number of within-sector edges with
    expected within-degree within * k, plus a binomial number of between-sector edges with
    expected between-degree (1 - within) * k; endpoints uniform (the second end of a
    between-sector edge uniform outside the first end's sector)."""
    n = len(sectors)
    if n < 2 or k <= 0:
        return _no_edges()
    order = np.argsort(sectors, kind="stable")  # nodes grouped by sector
    ordered = sectors[order]
    new_block = np.empty(n, dtype=bool)
    new_block[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new_block[1:])
    start = np.flatnonzero(new_block)  # first position of each block in `order`
    size = np.diff(np.append(start, n))
    block_at = np.cumsum(new_block) - 1  # block of the node at each position of `order`
    n_blocks = len(size)
    if n_blocks == 1:  # one sector: nowhere else for edges to go
        within = 1.0

    # within-sector edges
    pairs = size * (size - 1) // 2
    p_in = np.minimum(1.0, within * k / np.maximum(size - 1, 1))
    count = rng.binomial(pairs, np.where(pairs > 0, p_in, 0.0))
    block = np.repeat(np.arange(n_blocks), count)
    s = size[block]
    first = rng.integers(0, s)
    second = (first + 1 + rng.integers(0, s - 1)) % s  # any other node of the block
    u_in, v_in = order[start[block] + first], order[start[block] + second]

    # between-sector edges
    between_pairs = (n * n - int((size * size).sum())) // 2
    expected = n * (1.0 - within) * k / 2
    if between_pairs == 0 or expected <= 0:
        return u_in, v_in
    count = rng.binomial(between_pairs, min(1.0, expected / between_pairs))
    at = rng.integers(0, n, count)
    b = block_at[at]
    other = rng.integers(0, n - size[b])
    other += np.where(other >= start[b], size[b], 0)  # skip over the first end's own block
    return np.concatenate([u_in, order[at]]), np.concatenate([v_in, order[other]])
