"""The adoption network: seeded graphs of each kind, and influence shares that count right."""

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
from aiecosim.network import NETWORK_KINDS, AdoptionNetwork


def net(kind="small_world", n=2000, degree=10, seed=1, **kw):
    return AdoptionNetwork(n, kind, degree, np.random.default_rng(seed), **kw)


@pytest.mark.parametrize("kind", NETWORK_KINDS)
def test_graphs_are_seeded_symmetric_and_of_the_asked_degree(kind):
    a, b, c = net(kind), net(kind), net(kind, seed=2)
    assert (a.adjacency != b.adjacency).nnz == 0
    assert (a.adjacency != c.adjacency).nnz > 0
    assert (a.adjacency != a.adjacency.T).nnz == 0
    assert a.adjacency.diagonal().sum() == 0
    assert a.degree.mean() == pytest.approx(10, rel=0.15)


def test_scale_free_has_hubs_small_world_does_not():
    assert net("scale_free").degree.max() > 5 * net("small_world").degree.max()


def test_sector_blocks_keep_most_edges_inside_sectors():
    sectors = np.random.default_rng(0).integers(0, 8, 2000)
    g = net("sector_blocks", sectors=sectors, within_sector_share=0.8)
    coo = sp.triu(g.adjacency).tocoo()
    inside = np.mean(sectors[coo.row] == sectors[coo.col])
    assert 0.75 < inside < 0.9  # 0.8 asked, plus the random edges that land inside by chance


def test_neighbour_shares_equal_the_sparse_product_and_a_brute_force_count():
    g = net("scale_free", n=300, degree=6)
    rng = np.random.default_rng(5)
    provider = np.where(rng.random(300) < 0.6, rng.integers(0, 4, 300), -1)
    shares = g.neighbour_shares(provider, 4)
    one_hot = sp.csr_matrix(
        (np.ones((provider >= 0).sum()), (np.flatnonzero(provider >= 0), provider[provider >= 0])),
        shape=(300, 4),
    )
    product = (g.adjacency @ one_hot).toarray() / np.maximum(g.degree, 1)[:, None]
    assert np.allclose(shares, product)
    for i in (0, 17, 123):
        neighbours = list(g.graph.neighbors(i))
        for k in range(4):
            expected = sum(provider[j] == k for j in neighbours) / max(1, len(neighbours))
            assert shares[i, k] == pytest.approx(expected)
    rows = np.array([5, 17, 200])
    assert np.allclose(g.neighbour_shares(provider, 4, rows), shares[rows])
    assert np.allclose(shares.sum(axis=1), g.adopting_neighbour_share(provider))


def test_adopting_share_stays_exact_when_updated_month_to_month():
    g = net("small_world", n=3000, degree=12)
    rng = np.random.default_rng(9)
    provider = np.full(3000, -1)
    for _ in range(12):
        flip = rng.random(3000) < 0.03
        provider[flip] = np.where(provider[flip] >= 0, -1, 1)
        fresh = (g.adjacency @ (provider >= 0).astype(float)) / np.maximum(g.degree, 1)
        assert np.allclose(g.adopting_neighbour_share(provider), fresh)


def test_isolated_nodes_see_no_influence_and_tiny_graphs_work():
    one = AdoptionNetwork(1, "small_world", 10, np.random.default_rng(0))
    assert one.n_edges == 0
    assert one.neighbour_shares(np.array([0]), 2).tolist() == [[0.0, 0.0]]
    three = AdoptionNetwork(3, "scale_free", 50, np.random.default_rng(0))
    assert three.degree.max() <= 2


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"kind": "ring"}, "kind"),
        ({"n": 0}, "n_nodes"),
        ({"degree": -1}, "mean_degree"),
        ({"rewire_prob": 2.0}, "rewire_prob"),
        ({"sectors": np.zeros(5, int)}, "sectors"),
    ],
)
def test_bad_arguments_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        net(**kwargs)


def test_sample_is_small_connected_looking_and_keeps_ids():
    g = net("small_world", n=5000)
    sample = g.sample(500, np.random.default_rng(1))
    assert sample.number_of_nodes() <= 500
    assert sample.number_of_edges() > 250
    assert all(g.adjacency[u, v] for u, v in list(sample.edges)[:50])
    assert isinstance(g.graph, nx.Graph) and g.graph.number_of_edges() == g.n_edges
