"""Network generators: the reference networks PD14 and Brunel (:mod:`.generators`) and
region-level brains from a structural connectivity (:mod:`.regions`)."""
