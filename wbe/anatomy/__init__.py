"""From imaging to morphology: volumes and their readers (:mod:`.imaging`), segmentation
(:mod:`.segmentation`, block-wise with :mod:`.blockwise`), skeletons and SWC (:mod:`.morphology`)
and label atlases (:mod:`.atlas`)."""
