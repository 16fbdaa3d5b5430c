"""Connectomes: touch detection between skeletons (:mod:`.touches`), real connectomes imported
from cect and TVB (:mod:`.importers`), and the connectome object with its graph analysis and
exports (:mod:`.graph`)."""
