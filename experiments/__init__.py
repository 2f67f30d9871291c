"""Experiments over the model: specs, designs, the sweep runner, its results store and analysis.

>>> from aiecosim.experiments import load_results
>>> runs, monthly = load_results("sweeps/which-strategy-survives")
"""

from aiecosim.experiments.store import load_results

__all__ = ["load_results"]
