"""wbe — a whole-brain-emulation pipeline: imaging → connectome → simulation → validation.

The package holds all the science; the Snakemake workflow only calls the ``wbe`` command line.
"""

__version__ = "0.1.0"
