"""Config validation: the schema is generated from the stage models and rejects bad input
with a message naming the key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from wbe.pipeline import config as wcfg

ROOT = Path(__file__).resolve().parents[2]


def test_default_config_is_valid_and_complete():
    cfg = wcfg.load_config_file(ROOT / "config" / "config.yaml")
    for stage in wcfg.STAGE_MODULES:
        assert getattr(cfg, stage) is not None


def test_committed_schema_is_current():
    committed = (ROOT / "workflow" / "schemas" / "config.schema.json").read_text()
    assert committed == wcfg.json_schema_text(), "run `make schema` to regenerate"


@pytest.mark.parametrize(
    ("patch", "key"),
    [
        ({"simulation": {"duration_ms": -5}}, "simulation.duration_ms"),
        ({"simulation": {"duration_ms": "long"}}, "simulation.duration_ms"),
        ({"simulation": {"bogus": 1}}, "simulation.bogus"),
        ({"nonsense_stage": {}}, "nonsense_stage"),
        ({"plasticity": {"stdp": {"tau_plus_ms": 0}}}, "plasticity.stdp.tau_plus_ms"),
        # the model and its parameters are checked against the registry with the config
        ({"connectome": {"model": "iaf_nope"}}, "unknown cell model 'iaf_nope'; known: .*iaf_psc_exp"),
        ({"simulation": {"model": "iaf_nope"}}, "unknown cell model 'iaf_nope'; known: .*iaf_psc_exp"),
        ({"simulation": {"model": "iaf_cond_exp", "neuron_params": {"C_mm": 2.0}}},
         "simulation.neuron_params: model 'iaf_cond_exp' has no parameter.*'C_mm'"),
        ({"connectome": {"neuron_params": {"C_mm": 1.0}}}, "has no parameter.*'C_mm'"),
        ({"connectome": {"model": "iaf_cond_alpha", "neuron_params": {"C_m": -1.0}}},
         "connectome.neuron_params: parameter 'C_m' must be > 0"),
    ],
)
def test_invalid_config_names_the_key(patch, key):
    with pytest.raises(wcfg.ConfigError, match=key if "'" in key else key.replace(".", r"\.")):
        wcfg.load_config(patch)


def test_schema_rejects_what_the_models_reject():
    jsonschema = pytest.importorskip("jsonschema")
    schema = wcfg.json_schema()
    good = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    jsonschema.validate(good, schema)
    bad = json.loads(json.dumps(good))
    bad["simulation"]["duration_ms"] = -1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
    bad = json.loads(json.dumps(good))
    bad["simulation"]["unknown"] = 1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def test_plan_changes_only_downstream_of_a_change():
    base = wcfg.stage_plan(wcfg.load_config({}))
    changed = wcfg.stage_plan(wcfg.load_config({"simulation": {"seed": 99}}))
    same = ["imaging", "segmentation", "morphology", "connectome"]
    assert all(base[s].key == changed[s].key for s in same)
    assert all(base[s].key != changed[s].key
               for s in ["simulation", "plasticity", "metrics", "validation"])


def test_neuron_change_reruns_simulation_and_downstream_only():
    """A connectome is wiring: the neurons are the simulation's, so changing their model or a
    parameter in the default config keeps every stage before the simulation."""
    default = wcfg.read_config_file(ROOT / "config" / "config.yaml")
    base = wcfg.stage_plan(wcfg.load_config(default))
    for change in ({"neuron_params": {"tau_m": 15.0}}, {"model": "iaf_psc_alpha"}):
        plan = wcfg.stage_plan(wcfg.load_config(wcfg.layered(default, {"simulation": change})))
        assert [s for s in plan if plan[s].key != base[s].key] == [
            "simulation", "plasticity", "metrics", "validation"], change


def test_default_config_imposes_no_neuron_model():
    """Snakemake layers every --configfile over config/config.yaml: a simulation.model there
    would replace the neurons of every other config (the region brain's included)."""
    default = wcfg.load_config_file(ROOT / "config" / "config.yaml")
    assert default.simulation.model is None and default.simulation.neuron_params == {}
    for name in ("human96.yaml", "pinky40.yaml"):
        layered = wcfg.layered(wcfg.read_config_file(ROOT / "config" / "config.yaml"),
                               wcfg.read_config_file(ROOT / "config" / name))
        assert wcfg.load_config(layered).simulation.model is None, name


def test_missing_config_file_is_named(tmp_path):
    with pytest.raises(wcfg.ConfigError, match="nope.yaml: cannot read"):
        wcfg.load_config_file(tmp_path / "nope.yaml")


def test_yaml_is_loaded_safely(tmp_path):
    evil = tmp_path / "evil.yaml"
    evil.write_text("simulation: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(wcfg.ConfigError, match="not valid YAML"):
        wcfg.load_config_file(evil)


def test_command_line_strings_are_read_as_their_types():
    """`snakemake --config simulation='{seed: 7}'` hands the Snakefile strings ('7'):
    normalise reads them as the field's type, adds nothing, and names a key it cannot read."""
    from snakemake.cli import parse_config

    given = parse_config(["simulation={seed: 7, dt_ms: 0.05}", "results=out"])
    assert given == {"simulation": {"seed": "7", "dt_ms": "0.05"}, "results": "out"}
    assert wcfg.normalise(given) == {"simulation": {"seed": 7, "dt_ms": 0.05}, "results": "out"}
    with pytest.raises(wcfg.ConfigError, match="simulation.seed"):
        wcfg.normalise(parse_config(["simulation={seed: seven}"]))


def test_layers_merge_as_snakemake_merges():
    base = {"simulation": {"seed": 1, "dt_ms": 0.1, "stimulus": [{"neurons": ["A"]}]}}
    top = {"simulation": {"seed": 2, "stimulus": []}}
    assert wcfg.layered(base, top) == {"simulation": {"seed": 2, "dt_ms": 0.1, "stimulus": []}}
    assert base["simulation"]["seed"] == 1  # the layers themselves are left alone
