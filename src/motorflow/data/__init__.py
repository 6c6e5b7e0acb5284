"""Model inputs: which videos a split may use (:mod:`.table`), skeleton clips and their
augmentation (:mod:`.clips`), RGB + optical-flow chunks (:mod:`.chunks`) and per-split feature
tables with the deviation reference refitted on training subjects (:mod:`.features`)."""
