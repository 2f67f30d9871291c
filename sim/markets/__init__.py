"""The mechanisms the agents meet in, one module each, with its equation and units in the
docstring: capability (what training compute buys), compute (the cloud, capped by power), energy
(the electricity market), capital (equity, marks and sentiment), network (the enterprises' peers),
choice (the nested logit), pricing (Bertrand-Nash token prices) and valuation (the outlook funders
judge a firm by). A market knows nothing of agents or the model: it takes numbers and clears."""
