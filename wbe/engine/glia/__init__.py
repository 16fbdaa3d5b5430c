"""Glia coupled to the network: oligodendrocytes' activity-dependent myelination (astrocytes are
node models: ``wbe.engine.cells.astrocyte_lr_1994``)."""
