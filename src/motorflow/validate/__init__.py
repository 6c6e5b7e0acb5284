"""Validation against the synthetic cohorts' truth, one module per stage validated:
:mod:`.pose` (pose and clean: detection, joint error, leg swaps), :mod:`.features` (gait
features from the true and the MediaPipe joints) and :mod:`.preprocess` (Paper B's masking
and alignment).  Each goal is stated beside the code that measures it."""
