"""Report captions: a stage's numbers in its caption, data that cannot break the RST/Jinja it is
rendered through, and a front page whose table holds the validation's headline numbers."""

from __future__ import annotations

import json

import jinja2
from docutils.core import publish_parts

from wbe.pipeline import report, stages


def _render(text: str) -> str:
    """As Snakemake renders a caption: Jinja, then docutils."""
    return publish_parts(jinja2.Environment().from_string(text).render(snakemake=None),
                         writer="html", settings_overrides={"report_level": 2,
                                                                 "halt_level": 2})["body"]


def test_every_stage_has_a_caption_text():
    assert set(report.FIGURES) == set(stages.STAGES)


def test_simulation_caption_has_its_numbers_and_survives_odd_names():
    params = {"duration_ms": 300.0, "dt_ms": 0.1, "seed": 7,
              "background": {"rate_hz": 8000.0, "weight_pA": 20.0},
              "stimulus": [{"neurons": ["RM-V1_?_E_*", "{{ evil }}"], "kind": "poisson",
                            "rate_hz": 2000.0, "weight_pA": 30.0, "start_ms": 100.0,
                            "stop_ms": 1e9},
                           {"neurons": ["AVM"], "kind": "spike_train", "weight_pA": 16.0,
                            "spike_times_ms": [40.0, 41.5], "delay_ms": 1.5, "start_ms": 0.0,
                            "stop_ms": 50.0}]}
    text = report.caption("simulation", params, {"spikes": 1234, "neurons": 95,
                                                 "synapses": 223, "mean_rate_hz": 2.25}, {})
    assert "1,234 spikes from 95 neurons" in text and "seed 7" in text
    assert "from 100 to 300 ms" in text  # a stimulus ends with the run
    assert "AVM: 2 given spikes × 16 (first at 40 ms, delay 1.5 ms)" in text
    html = _render(text)  # no Jinja expression evaluated, no RST error raised
    assert "evil" in html and "RM-V1_?_E_*" in html


def test_front_page_table_holds_the_headline_numbers(tmp_path):
    con, sim, met, val = (tmp_path / s for s in ("c", "s", "m", "v"))
    for folder, stage, params, summary in (
            (con, "connectome", {"source": "touch"}, {"n_neurons": 95, "n_edges": 223}),
            (sim, "simulation", {"duration_ms": 300.0}, {"spikes": 64, "mean_rate_hz": 2.25}),
            (met, "metrics", {}, {"pci": 0.42})):
        folder.mkdir()
        (folder / "manifest.json").write_text(json.dumps(
            {"stage": stage, "params": params, "summary": summary}))
    val.mkdir()
    (val / "scores.json").write_text(json.dumps({
        "connectome": {"status": "ok", "reference": "cect:Cook2019Herm", "n_neurons_common": 95,
                       "chemical": {"precision": 0.399, "recall": 0.126, "f1": 0.192,
                                    "chance_precision": 0.0788, "p_value_hypergeom": 1.5e-41}},
        "rates": {"status": "ok", "reference": "nest", "ks_distance_all": 0.06,
                  "seeds": {"n_seeds": 3, "per_population": {"neurons": {
                      "model_mean_hz": 2.6, "model_sd_hz": 0.13, "reference_mean_hz": 2.4,
                      "reference_sd_hz": 0.5, "welch_p_value": 0.48}}}},
        "fi": {"status": "skipped: no recording"}}))
    text = report.front_page({"connectome": con, "simulation": sim, "metrics": met}, val)
    html = _render(text)
    for want in ("95 neurons", "64 spikes", "precision 0.399 (chance 0.0788",
                 "1.50e-41", "wbe 2.6 ± 0.13", "Rates over 3 seeds", "<table"):
        assert want in html or want in text, want
    assert "F-I" not in text  # no recording: no F-I line, no F-I row
