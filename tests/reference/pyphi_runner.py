"""Run PyPhi 1.2 (the reference for exact Φ) on networks given as JSON; print JSON.

Runs in its own pinned environment (``make pyphi-env`` → ``.venv-pyphi``), never imported by
wbe: PyPhi 1.2 needs ``collections`` aliases removed in Python 3.10. Input (stdin): a list of
jobs ``{"tpm", "cm", "state", "nodes" (optional), "complex" (bool)}`` or ``{"example": name}``
for one of PyPhi's example networks (its TPM, CM and state are returned with the result).
Output: a list of ``{"phi", "cut", "concepts": [{"mechanism", "phi", "cause_purview",
"effect_purview"}], "major_complex": {"nodes", "phi"}, "tpm", "cm", "state"}``.
"""

import collections
import collections.abc
import json
import os
import sys

for _name in ("Iterable", "Mapping", "Sequence", "Hashable", "Callable", "MutableMapping",
              "Set"):
    setattr(collections, _name, getattr(collections.abc, _name))
os.environ["PYPHI_WELCOME_OFF"] = "yes"

import numpy as np  # noqa: E402
import pyphi  # noqa: E402

pyphi.config.PROGRESS_BARS = False
pyphi.config.PARALLEL_CUT_EVALUATION = False
pyphi.config.PARALLEL_CONCEPT_EVALUATION = False
pyphi.config.PARALLEL_COMPLEX_EVALUATION = False
pyphi.config.CACHE_SIAS = False
pyphi.config.LOG_FILE_LEVEL = None
pyphi.config.LOG_STDOUT_LEVEL = None

#: PyPhi example networks with the state their documentation analyses
EXAMPLES = {
    "basic": (pyphi.examples.basic_network, (1, 0, 0)),
    "basic_noisy_selfloop": (pyphi.examples.basic_noisy_selfloop_network, (1, 0, 0)),
    "residue": (pyphi.examples.residue_network, (0, 0, 0, 0, 0)),
    "xor": (pyphi.examples.xor_network, (0, 0, 0)),
    "rule110": (pyphi.examples.rule110_network, (0, 0, 0)),
    "rule154": (pyphi.examples.rule154_network, (1, 0, 0, 0, 0)),
    "fig1a": (pyphi.examples.fig1a, (1, 0, 0, 0, 1, 0)),
    "fig3a": (pyphi.examples.fig3a, (1, 0, 0, 0)),
    "fig3b": (pyphi.examples.fig3b, (1, 0, 0, 0)),
    "fig4": (pyphi.examples.fig4, (1, 0, 0)),
    "fig5a": (pyphi.examples.fig5a, (1, 1, 1)),
    "fig5b": (pyphi.examples.fig5b, (1, 0, 0)),
    "propagation_delay": (pyphi.examples.propagation_delay_network,
                          (1, 0, 1, 0, 0, 0, 0, 0, 0)),
}


def _names(sub, ix):
    return [int(i) for i in ix]


def run(job):
    if "example" in job:
        make, state = EXAMPLES[job["example"]]
        net = make()
        state = tuple(job.get("state", state))
    else:
        net = pyphi.Network(np.array(job["tpm"], dtype=float), cm=np.array(job["cm"]))
        state = tuple(job["state"])
    nodes = tuple(job["nodes"]) if job.get("nodes") is not None else net.node_indices
    out = {"tpm": pyphi.convert.to_2dimensional(net.tpm).tolist(), "cm": net.cm.tolist(),
           "state": list(state)}
    try:
        sub = pyphi.Subsystem(net, state, nodes)
    except pyphi.exceptions.StateUnreachableError:
        out["unreachable"] = True
        return out
    sia = pyphi.compute.sia(sub)
    out["phi"] = float(sia.phi)
    cut = sia.cut
    out["cut"] = (None if cut is None or not hasattr(cut, "from_nodes")
                  else [list(map(int, cut.from_nodes)), list(map(int, cut.to_nodes))])
    out["concepts"] = [{"mechanism": list(map(int, c.mechanism)), "phi": float(c.phi),
                        "cause_purview": list(map(int, c.cause.purview)),
                        "effect_purview": list(map(int, c.effect.purview)),
                        "cause_phi": float(c.cause.phi), "effect_phi": float(c.effect.phi)}
                       for c in sia.ces]
    if job.get("complex"):
        mc = pyphi.compute.major_complex(net, state)
        out["major_complex"] = {"nodes": list(map(int, mc.subsystem.node_indices)),
                                "phi": float(mc.phi)}
    return out


if __name__ == "__main__":
    print(json.dumps([run(job) for job in json.load(sys.stdin)]))
