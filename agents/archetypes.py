"""The three archetypes of model builder (DESIGN.md), their names and their one colour.

Kept apart from `aiecosim.agents.strategy` (which validates strategies with pydantic) so that
the figures can name and colour the archetypes without importing the model's machinery: the
report's drawing process starts while the model imports, and its imports are on the path to
report.png.
"""

from __future__ import annotations

from typing import Literal

Archetype = Literal["frontier_lab", "integrated_giant", "open_source_builder"]
ARCHETYPES: tuple[str, ...] = ("frontier_lab", "integrated_giant", "open_source_builder")
ARCHETYPE_LABELS: dict[str, str] = {
    "frontier_lab": "Frontier labs",
    "integrated_giant": "Integrated giants",
    "open_source_builder": "Open-source builders",
}
# Each archetype's one colour in every figure, report and page: Okabe-Ito, distinct for the
# common forms of colour blindness and in greyscale.
ARCHETYPE_COLOURS: dict[str, str] = {
    "frontier_lab": "#0072B2",  # blue
    "integrated_giant": "#D55E00",  # vermillion
    "open_source_builder": "#009E73",  # bluish green
}
