"""wbe benchmarks: wbe vs NEST vs Brian2 on the same networks (see README.md)."""
