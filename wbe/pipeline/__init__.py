"""The pipeline: the stage table (:mod:`.stages`), content-addressed outputs (:mod:`.store`),
the validated configuration (:mod:`.config`), data paths (:mod:`.paths`), parameter sweeps
(:mod:`.sweep`) and Dask clusters (:mod:`.cluster`)."""
