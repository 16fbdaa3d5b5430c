"""wbe in a notebook or a script: a balanced network, built, run, changed and saved.

Run it with ``python docs/tutorial.py`` (it writes into ``tutorial_output/``), or paste it into
Jupyter cell by cell: the figures show inline. The test suite runs it
(``tests/unit/test_docs.py``)."""

# %% A network of 1,000 LIF neurons (NEST's iaf_psc_exp), 80 % excitatory
import numpy as np

import wbe

print(wbe.models())  # every registered cell model, with a one-line description

sim = wbe.Simulation(dt_ms=0.1, seed=42)
exc = sim.population("E", "iaf_psc_exp", 800, V_m=wbe.Uniform(-70.0, -55.0))
inh = sim.population("I", "iaf_psc_exp", 200, V_m=wbe.Uniform(-70.0, -55.0))

# %% Connections: fixed in-degree (Brunel 2000), inhibition 5 times stronger
sim.connect(exc, exc + inh, wbe.FixedInDegree(80), weight=wbe.Normal(30.0, 3.0, low=0.0),
            delay_ms=1.5)
sim.connect(inh, exc + inh, wbe.FixedInDegree(20), weight=-150.0, delay_ms=1.5)

# %% Input: independent Poisson trains, and a current pulse into 100 excitatory cells
drive = sim.poisson(exc + inh, rate_hz=9000.0, weight=30.0)
sim.dc(exc[:100], 200.0, start_ms=300.0, stop_ms=400.0)

# %% What to record: spikes of everyone (default) and V_m of three cells every 0.5 ms
sim.record(exc[:3], ["V_m", "I_syn_ex"], interval_ms=0.5)

# %% Run 300 ms, look, then run 300 ms more: the second call continues the first
sim.run(300.0)
print("after 300 ms:", sim.rates_hz())
sim.run(300.0)
print("after 600 ms:", sim.rates_hz(300.0, 600.0))

# %% A closed loop: every slice (the minimum delay) decide on the input
def switch_off_at_700(t_ms):
    if t_ms >= 700.0:
        sim.set_rate(drive, 0.0)


sim.run(200.0, on_slice=switch_off_at_700)
late = sim.spikes("E")[0]
print("E spikes after 710 ms (input off):", int((late > 710.0).sum()))

# %% Results: NumPy arrays, pandas tables, Neo, NWB, SONATA
t, ids = sim.spikes("E")
table = sim.spike_table()
print(table.groupby("population").size())
block = sim.to_neo()  # for Elephant's statistics
out = "tutorial_output"
sim.to_nwb(f"{out}/spikes.nwb")
config = sim.to_sonata(f"{out}/sonata")  # `wbe simulate` on it reproduces these spikes
print("SONATA simulation config:", config)

# %% Figures (inline in Jupyter; saved here)
ax = sim.raster(max_neurons=100)
ax.figure.savefig(f"{out}/raster.png", dpi=100)
ax = sim.plot_state("E", "V_m")
ax.figure.savefig(f"{out}/v_m.png", dpi=100)
assert np.all(np.diff(t) >= 0)
