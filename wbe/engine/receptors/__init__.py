"""Receptor kinetics: plug-ins (:data:`wbe.engine.registry.RECEPTORS`) that give any
conductance-based cell model that hosts them (:attr:`~wbe.engine.cells.base.CellModel.
receptor_host`) receptor ports with their own conductance dynamics — the contract and the
hosting machinery: :mod:`wbe.engine.receptors.base`. Every module of this package is imported
when the registry is first used."""
