"""The adoption network: seeded graphs of each kind with the asked structure, and influence
shares that equal the sparse product A[rows] @ P / degree and a brute-force neighbour count."""

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
from aiecosim.markets.network import NETWORK_KINDS, AdoptionNetwork


def net(kind="small_world", n=2000, degree=10, seed=1, **kw):
    return AdoptionNetwork(n, kind, degree, np.random.default_rng(seed), **kw)


def random_providers(n, n_providers, seed=5, adopting=0.6):
    rng = np.random.default_rng(seed)
    return np.where(rng.random(n) < adopting, rng.integers(0, n_providers, n), -1)


def one_hot_product(adjacency, provider, n_providers, degree):
    """influence = A @ P / degree with scipy's own sparse-sparse product, for comparison."""
    users = np.flatnonzero(provider >= 0)
    one_hot = sp.csr_matrix(
        (np.ones(len(users)), (users, provider[users])), shape=(len(provider), n_providers)
    )
    return (adjacency @ one_hot).toarray() / np.maximum(degree, 1)[:, None]


# ------------------------------------------------------------------------------ structure
@pytest.mark.parametrize("kind", NETWORK_KINDS)
def test_graphs_are_seeded_symmetric_simple_and_of_the_asked_degree(kind):
    a, b, c = net(kind), net(kind), net(kind, seed=2)
    assert (a.adjacency != b.adjacency).nnz == 0  # same seed, same graph
    assert (a.adjacency != c.adjacency).nnz > 0.1 * a.adjacency.nnz  # another seed, another
    adjacency = a.adjacency
    assert adjacency.shape == (2000, 2000) and adjacency.dtype == np.float32
    assert (adjacency != adjacency.T).nnz == 0
    assert adjacency.diagonal().sum() == 0
    assert set(np.unique(adjacency.data)) == {1.0}
    coo = adjacency.tocoo()
    assert len(set(zip(coo.row.tolist(), coo.col.tolist(), strict=True))) == adjacency.nnz
    assert np.array_equal(a.degree, np.asarray((adjacency != 0).sum(axis=1)).ravel())
    assert a.n_edges == adjacency.nnz // 2 == a.degree.sum() // 2
    assert a.degree.mean() == pytest.approx(10, rel=0.15)
    assert a.n_nodes == 2000 and a.kind == kind


@pytest.mark.parametrize("kind", NETWORK_KINDS)
def test_all_randomness_comes_from_the_generator_given(kind):
    legacy = np.random  # the global numpy state must be neither used nor consulted
    legacy.seed(0)  # noqa: NPY002
    state = legacy.get_state()[1].copy()  # noqa: NPY002
    first = net(kind, n=500)
    assert np.array_equal(legacy.get_state()[1], state)  # noqa: NPY002
    legacy.seed(123)  # noqa: NPY002
    second = net(kind, n=500)
    assert (first.adjacency != second.adjacency).nnz == 0


def test_small_world_is_a_rewired_ring_lattice():
    ring = net("small_world", degree=10, rewire_prob=0.0)
    assert np.all(ring.degree == 10)
    assert ring.adjacency[0, 5] == 1 and ring.adjacency[0, 1995] == 1 and ring.adjacency[0, 6] == 0
    rewired = net("small_world", degree=10, rewire_prob=0.1)
    lattice_edges = (ring.adjacency.multiply(rewired.adjacency)).nnz / ring.adjacency.nnz
    assert 0.85 < lattice_edges < 0.95  # about 10% of the lattice edges moved
    # still clustered, as Watts-Strogatz with p = 0.1: close to networkx's own
    reference = nx.average_clustering(nx.watts_strogatz_graph(2000, 10, 0.1, seed=3))
    assert nx.average_clustering(rewired.graph) == pytest.approx(reference, abs=0.05)


def test_scale_free_has_a_heavy_tail_like_barabasi_albert():
    scale_free, small_world = net("scale_free"), net("small_world")
    assert scale_free.degree.max() > 5 * small_world.degree.max()
    assert scale_free.degree.min() >= 4  # m = 5 edges per node, a rare duplicate dropped
    reference = np.array([d for _, d in nx.barabasi_albert_graph(2000, 5, seed=3).degree()])
    for q in (50, 90, 99):
        assert np.percentile(scale_free.degree, q) == pytest.approx(
            np.percentile(reference, q), rel=0.25
        )
    # hubs are spread over the ids, not the first nodes
    hubs = np.argsort(scale_free.degree)[-20:]
    assert hubs.mean() > 300


def test_sector_blocks_keep_the_asked_share_of_edges_inside_sectors():
    sectors = np.random.default_rng(0).integers(0, 8, 2000)
    for share in (0.8, 0.3):
        g = net("sector_blocks", sectors=sectors, within_sector_share=share)
        coo = sp.triu(g.adjacency).tocoo()
        inside = np.mean(sectors[coo.row] == sectors[coo.col])
        assert inside == pytest.approx(share, abs=0.04)
        assert g.degree.mean() == pytest.approx(10, rel=0.15)
    default = net("sector_blocks", within_sector_share=1.0)  # no sectors: 10 equal blocks
    coo = default.adjacency.tocoo()
    assert np.all(coo.row // 200 == coo.col // 200)


def test_mean_degree_above_what_the_nodes_allow_is_capped():
    for kind in NETWORK_KINDS:
        one = AdoptionNetwork(1, kind, 10, np.random.default_rng(0))
        assert one.n_edges == 0 and one.degree.tolist() == [0]
        three = AdoptionNetwork(3, kind, 50, np.random.default_rng(0))
        assert three.degree.max() <= 2
        assert (three.adjacency != three.adjacency.T).nnz == 0
        none = AdoptionNetwork(100, kind, 0, np.random.default_rng(0))
        assert none.n_edges == 0
    dense = net("small_world", n=30, degree=100, rewire_prob=0.0)
    assert np.all(dense.degree == 29)  # complete graph


# ------------------------------------------------------------------------------ influence
@pytest.mark.parametrize("kind", NETWORK_KINDS)
def test_neighbour_shares_equal_a_brute_force_count_and_the_sparse_product(kind):
    g = net(kind, n=300, degree=6)
    provider = random_providers(300, 4)
    shares = g.neighbour_shares(provider, 4)
    assert shares.shape == (300, 4) and shares.dtype == np.float64
    for i in range(300):
        neighbours = list(g.graph.neighbors(i))
        for k in range(4):
            expected = sum(provider[j] == k for j in neighbours) / max(1, len(neighbours))
            assert shares[i, k] == pytest.approx(expected, abs=1e-12)
    assert np.allclose(shares, one_hot_product(g.adjacency, provider, 4, g.degree), atol=1e-12)
    assert np.all((shares >= 0) & (shares <= 1))


def test_rows_give_the_same_rows_as_the_full_result():
    g = net("scale_free", n=3000, degree=12)
    provider = random_providers(3000, 7)
    full = g.neighbour_shares(provider, 7)
    rows = np.random.default_rng(2).choice(3000, 400, replace=False)
    assert np.array_equal(g.neighbour_shares(provider, 7, rows), full[rows])
    repeated = np.array([5, 5, 2999, 0])
    assert np.array_equal(g.neighbour_shares(provider, 7, repeated), full[repeated])
    assert g.neighbour_shares(provider, 7, np.array([], dtype=int)).shape == (0, 7)
    adopting = g.adopting_neighbour_share(provider)
    assert np.allclose(full.sum(axis=1), adopting)
    assert np.array_equal(g.adopting_neighbour_share(provider, rows), adopting[rows])


def test_shares_when_nobody_or_everybody_adopts():
    g = net("small_world", n=500, degree=8)
    nobody = np.full(500, -1)
    assert not g.neighbour_shares(nobody, 3).any()
    assert not g.adopting_neighbour_share(nobody).any()
    everybody = np.full(500, 2)
    shares = g.neighbour_shares(everybody, 3)
    assert np.all(shares[:, 2] == 1.0) and not shares[:, :2].any()
    assert np.all(g.adopting_neighbour_share(everybody) == 1.0)


def test_adopting_share_stays_exact_when_updated_month_to_month():
    g = net("small_world", n=3000, degree=12)
    rng = np.random.default_rng(9)
    provider = np.full(3000, -1)
    for month in range(14):
        share = 0.5 if month == 6 else 0.03  # a month of big change recomputes from scratch
        flip = rng.random(3000) < share
        provider[flip] = np.where(provider[flip] >= 0, -1, rng.integers(0, 3, flip.sum()))
        fresh = (g.adjacency @ (provider >= 0).astype(float)) / np.maximum(g.degree, 1)
        assert np.allclose(g.adopting_neighbour_share(provider), fresh)
        assert np.allclose(g.neighbour_shares(provider, 3).sum(axis=1), fresh)


def test_isolated_nodes_see_no_influence():
    sectors = np.r_[np.zeros(99, dtype=int), 1]  # node 99 alone in its sector
    g = AdoptionNetwork(
        100, "sector_blocks", 6, np.random.default_rng(0), sectors=sectors, within_sector_share=1
    )
    assert g.degree[99] == 0 and g.degree[:99].min() > 0
    provider = np.zeros(100, dtype=int)
    assert g.neighbour_shares(provider, 2)[99].tolist() == [0.0, 0.0]
    assert g.adopting_neighbour_share(provider)[99] == 0.0
    assert np.all(g.adopting_neighbour_share(provider)[:99] == 1.0)
    one = AdoptionNetwork(1, "small_world", 10, np.random.default_rng(0))
    assert one.neighbour_shares(np.array([0]), 2).tolist() == [[0.0, 0.0]]


# ------------------------------------------------------------------------------ arguments
@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"kind": "ring"}, "kind"),
        ({"n": 0}, "n_nodes"),
        ({"n": 2.5}, "n_nodes"),
        ({"degree": -1}, "mean_degree"),
        ({"degree": float("nan")}, "mean_degree"),
        ({"rewire_prob": 2.0}, "rewire_prob"),
        ({"rewire_prob": -0.1}, "rewire_prob"),
        ({"within_sector_share": 1.5}, "within_sector_share"),
        ({"sectors": np.zeros(5, int)}, "sectors"),
    ],
)
def test_bad_arguments_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        net(**kwargs)


def test_bad_providers_name_the_field():
    g = net(n=50, degree=4)
    with pytest.raises(ValueError, match="provider"):
        g.neighbour_shares(np.zeros(49, dtype=int), 2)
    with pytest.raises(ValueError, match="n_providers"):
        g.neighbour_shares(np.full(50, 2), 2)
    with pytest.raises(ValueError, match="n_providers"):
        g.neighbour_shares(np.zeros(50, dtype=int), -1)
    with pytest.raises(ValueError, match="provider"):
        g.adopting_neighbour_share(np.zeros(50))


# ------------------------------------------------------------------------------ picture
@pytest.mark.parametrize("kind", NETWORK_KINDS)
def test_sample_is_small_induced_connected_looking_and_keeps_ids(kind):
    g = net(kind, n=5000)
    sample = g.sample(500, np.random.default_rng(1))
    nodes = np.array(sorted(sample.nodes))
    assert len(nodes) == 500 and nodes.max() < 5000
    assert sample.number_of_edges() > 400  # neighbourhoods, not 500 isolated points
    induced = g.adjacency[nodes][:, nodes]
    assert sample.number_of_edges() == induced.nnz // 2  # every edge among them, ids kept
    assert all(g.adjacency[u, v] == 1 for u, v in sample.edges)
    again = g.sample(500, np.random.default_rng(1))
    assert sorted(again.nodes) == nodes.tolist()  # seeded
    assert sorted(g.sample(500, np.random.default_rng(2)).nodes) != nodes.tolist()


def test_sample_of_a_small_network_is_the_whole_graph():
    g = net(n=200, degree=4)
    assert isinstance(g.graph, nx.Graph) and g.graph.number_of_edges() == g.n_edges
    whole = g.sample(500, np.random.default_rng(0))
    assert whole.number_of_nodes() == 200 and whole.number_of_edges() == g.n_edges
    assert g.sample(0, np.random.default_rng(0)).number_of_nodes() == 0
