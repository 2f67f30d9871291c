"""Bad input gets one clear line naming the field, the value and what is allowed."""

import pytest
from aiecosim.config import ConfigError, apply_override, list_scenarios, load_config

SCENARIOS = {
    "baseline",
    "energy-crunch",
    "scaling-plateau",
    "open-surge",
    "funding-winter",
    "lock-in",
}


def test_the_six_scenarios_ship_with_descriptions():
    scenarios = list_scenarios()
    assert SCENARIOS <= set(scenarios)
    assert all(len(d) > 20 for d in scenarios.values())


def test_scenarios_change_what_they_say():
    base = load_config("baseline")
    assert load_config("energy-crunch").energy.marginal_cost_growth_per_year > 0
    assert load_config("scaling-plateau").capability.alpha > base.capability.alpha
    assert load_config("lock-in").enterprises.switching_cost > base.enterprises.switching_cost
    assert load_config("funding-winter").investors.patience_months < base.investors.patience_months
    surge = load_config("open-surge")
    assert (
        surge.capability.open_distillation_multiplier > base.capability.open_distillation_multiplier
    )


def test_unknown_scenario_names_the_choices():
    with pytest.raises(
        ConfigError, match=r"scenario: unknown value 'basline' \(did you mean 'baseline'\?\)"
    ):
        load_config("basline")


def test_misspelt_key_suggests_the_closest_valid_key():
    with pytest.raises(
        ConfigError,
        match=r"energy.base_load_grwth_per_year.*did you mean 'base_load_growth_per_year'",
    ):
        load_config(overrides=["energy.base_load_grwth_per_year=0.1"])


def test_misspelt_section_suggests_the_closest_section():
    with pytest.raises(ConfigError, match=r"did you mean 'investors'"):
        load_config(overrides=["invstors.optimism=1"])


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ("run.steps=0", "run.steps"),
        ("run.enterprises=-5", "run.enterprises"),
        ("energy.suppliers.0.capacity_mw=-1", "energy.suppliers.0.capacity_mw"),
        ("enterprises.initial_adoption=1.5", "enterprises.initial_adoption"),
        ("network.kind=ring", "network.kind"),
        ("run.steps=abc", "run.steps"),
    ],
)
def test_values_out_of_range_name_field_and_value(override, field):
    with pytest.raises(ConfigError) as err:
        load_config(overrides=[override])
    message = str(err.value)
    assert message.startswith(field) and override.split("=")[1] in message
    assert "\n" not in message


def test_unknown_strategy_in_a_cohort_is_refused():
    with pytest.raises(
        ConfigError, match="builders.initial.0.strategy: unknown value 'frontierlab'"
    ):
        load_config(builders={"initial": [{"strategy": "frontierlab", "count": 1}]})


def test_a_strategy_variant_is_defined_in_a_toml_file_without_code(tmp_path):
    spec = tmp_path / "lean.toml"
    spec.write_text(
        '[strategies.lean_frontier]\nbase = "frontier_lab"\nmarkup = 0.8\nopen_weights = true\n\n'
        '[[builders.initial]]\nstrategy = "lean_frontier"\ncount = 2\n'
    )
    cfg = load_config(config_file=spec)
    lean = cfg.strategy_table()["lean_frontier"]
    assert lean.archetype == "frontier_lab" and lean.markup == 0.8 and lean.open_weights
    assert cfg.builders.initial[0].strategy == "lean_frontier"


def test_a_strategy_variant_with_an_unknown_field_is_refused(tmp_path):
    spec = tmp_path / "bad.toml"
    spec.write_text('[strategies.x]\nbase = "frontier_lab"\nmarkupp = 0.8\n')
    with pytest.raises(ConfigError, match="strategies.x.markupp.*did you mean 'markup'"):
        load_config(config_file=spec)


def test_broken_toml_and_missing_file_are_clear(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[run\nsteps = 3")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(config_file=bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(config_file=tmp_path / "missing.toml")


def test_override_parses_toml_values_and_bare_words():
    data = {"a": {"b": 1, "c": "x", "d": [1, 2]}}
    assert apply_override(data, "a.b=2.5")["a"]["b"] == 2.5
    assert apply_override(data, "a.c=scale_free")["a"]["c"] == "scale_free"
    assert apply_override(data, "a.d.1=7")["a"]["d"] == [1, 7]
    assert data["a"]["b"] == 1  # the input is not changed
    with pytest.raises(ConfigError, match="expected key.path=value"):
        apply_override(data, "a.b")


def test_a_preset_parameter_can_be_set_from_the_command_line():
    cfg = load_config(overrides=["strategies.integrated_giant.opex_usd_per_month=2e9"])
    giant = cfg.strategy_table()["integrated_giant"]
    assert giant.opex_usd_per_month == 2e9
    assert (
        giant.lock_in_strength
        == load_config().strategy_table()["integrated_giant"].lock_in_strength
    )
    # a scenario's own variant of the preset keeps its changes and takes the new one
    lock_in = load_config(
        "lock-in", overrides=["strategies.integrated_giant.opex_usd_per_month=2e9"]
    )
    assert lock_in.strategy_table()["integrated_giant"].lock_in_strength == 3.0
    with pytest.raises(
        ConfigError,
        match="strategies.integrated_gaint: unknown strategy .did you mean 'integrated_giant'",
    ):
        load_config(overrides=["strategies.integrated_gaint.opex_usd_per_month=2e9"])
    with pytest.raises(ConfigError, match="opex_usd_per_month"):
        load_config(overrides=["strategies.integrated_giant.opex_usd_per_month=-1"])
