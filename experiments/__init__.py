"""Experiments over the model: specs, designs, the sweep runner, its results store and analysis.

>>> from aiecosim.experiments import load_results
>>> runs, monthly = load_results("sweeps/which-strategy-survives")  # wide: a row per run
>>> runs, monthly = load_results("sweeps/which-strategy-survives", tidy=True)  # a value a row
>>> runs.attrs["units"]["cum_profit_usd"]
'USD'
"""

__all__ = ["load_results"]


def __getattr__(name: str):
    # imported on first use, so that reading the package's data (the scenario list) or
    # `aiecosim --help` does not load pandas and pyarrow
    if name == "load_results":
        from aiecosim.experiments.store import load_results

        return load_results
    raise AttributeError(f"module 'aiecosim.experiments' has no attribute {name!r}")
