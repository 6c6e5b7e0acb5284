"""Training stage: one model on one cross-validation split.

Every model fits everything that learns from data (weights, early stopping, feature
imputation and scaling, the deviation reference, the Grad-CAM keypoint ranking of
``fusion_xattn``) on that split's training subjects only, with early stopping on its inner
validation subjects; test subjects are touched only by :mod:`motorflow.inference`.

One module per family of :mod:`motorflow.registry` (``results/train/{model}/{split}/``):

* :mod:`.skeleton`: ``stgcn`` (ST-GCN on the cleaned skeletons) and ``two_stream_skeleton``
  (joint-position + frame-difference streams, feature-map fusion).
* :mod:`.baselines`: ``gait_baseline`` and ``movement_baseline``, logistic regression on the
  clinical gait or infant general-movement features (imputation and standardisation fitted
  inside the fold; ``C`` chosen on the inner validation subjects).
* :mod:`.fusion`: ``fusion_xattn`` (Paper A): the fold's Grad-CAM keypoint ranking → gait
  features the top-k keypoints support → ST-GCN stream and gait-feature tokens fused by
  cross-attention.
* :mod:`.rgbflow`: ``two_stream_rgbflow`` (Paper B): appearance stream on aligned,
  background-masked frames + temporal stream on stacked optical flow, and its single-stream
  ablations ``rgbflow_spatial`` / ``rgbflow_temporal``.

Shared: :mod:`.config` (the ``models:`` sections), :mod:`.loop` (the seeded, class-weighted
torch loop with early stopping; CPU-deterministic, CUDA when present), :mod:`.checkpoint`
(self-describing checkpoints) and :mod:`.common` (what every trainer writes).  The torch
modules are not imported by the feature baselines, so editing those retrains no network.
"""
