"""aiecosim: an agent-based simulation of how AI strategies compete.

>>> from aiecosim import simulate
>>> result = simulate("baseline", seed=1, steps=24)
>>> result.model[["date", "share_revenue_frontier_lab"]].tail()
"""

__all__ = ["__version__", "simulate", "AIEcosystemModel", "SimConfig", "load_config"]


def __getattr__(name: str):
    if name == "__version__":  # read from the installed metadata on first use (50 ms)
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("aiecosim")
        except PackageNotFoundError:  # running from a source tree that is not installed
            return "0.0.0"
    # Imported lazily so that `import aiecosim.agents.strategy` does not pull in the model
    # (and the model's imports do not loop back through this package).
    if name == "simulate":
        from aiecosim.outputs import simulate

        return simulate
    if name == "AIEcosystemModel":
        from aiecosim.model import AIEcosystemModel

        return AIEcosystemModel
    if name in ("SimConfig", "load_config"):
        from aiecosim import config

        return getattr(config, name)
    raise AttributeError(f"module 'aiecosim' has no attribute {name!r}")
