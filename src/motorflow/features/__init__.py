"""Features stage: per-video features of each task (``TaskSpec.features``).

* :mod:`.gait`: Paper A's task, gait events, cycle-normalised kinematics and clinical gait
  features from a 2D pose (docs/features.md), and the cohort table;
* :mod:`.curves`: the gait-cycle curves' layout and files, and the deviation scores
  (GDI-like, GPS-like) against a reference group, shared by the cohort table and each
  fold's training table;
* :mod:`.movement`: Paper B's task, general-movement features of supine infants
  (docs/movement_features.md);
* :mod:`.cohort`: the cohort feature table of either task.

Imports nothing itself, so that the infant features do not depend on the gait code.
"""
