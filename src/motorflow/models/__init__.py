"""Models: the skeleton graph, ST-GCN, a two-stream ST-GCN, skeleton + gait-feature fusion
(Paper A) and the RGB + optical-flow two-stream network (Paper B).

Plain ``torch.nn.Module``s configured by frozen dataclasses (each with ``from_mapping`` for a
YAML section); skeleton inputs are ``(N, M, T, V, C)`` tensors, image inputs ``(N, C, H, W)``.

One module per network (import from it: this package imports none, so a rule that trains one
network does not depend on the others' code): :mod:`.graph`, :mod:`.stgcn`, :mod:`.two_stream`,
:mod:`.fusion`, :mod:`.rgbflow`.
"""
