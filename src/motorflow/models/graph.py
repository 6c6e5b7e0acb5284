"""The skeleton graph: joints, bones and ST-GCN's spatial-configuration partitions.

Kept apart from the layers so that the graph a model used can be inspected, plotted and tested
on its own, and so that every model takes a plain ``(K, V, V)`` array.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from motorflow.skeleton import BONES, JOINT_NAMES

N_PARTITIONS = 3  # root, centripetal, centrifugal

# motorflow.skeleton.BONES are drawing bones and leave the head floating (no neck keypoint).
# A graph convolution needs a connected skeleton, so the graph links the nose to both
# shoulders, as pyskl's COCO layout does.
HEAD_TO_TORSO: tuple[tuple[str, str], ...] = (
    ("nose", "left_shoulder"),
    ("nose", "right_shoulder"),
)


def hop_distances(joint_names: Sequence[str], bones: Sequence[tuple[str, str]]) -> np.ndarray:
    """(V, V) shortest path lengths along the bones; ``inf`` between disconnected joints."""
    index = _index(joint_names)
    v = len(joint_names)
    neighbours: list[list[int]] = [[] for _ in range(v)]
    for a, b in bones:
        i, j = _lookup(index, a, "bone"), _lookup(index, b, "bone")
        if i != j:
            neighbours[i].append(j)
            neighbours[j].append(i)
    dist = np.full((v, v), np.inf)
    for s in range(v):
        dist[s] = _bfs(neighbours, [s], v)
    return dist


def spatial_adjacency(
    joint_names: Sequence[str],
    bones: Sequence[tuple[str, str]],
    centre: tuple[str, ...] = ("left_hip", "right_hip"),
    max_hop: int = 1,
) -> np.ndarray:
    """ST-GCN's spatial-configuration partitioning (Yan et al. 2018), shape ``(3, V, V)``.

    ``A[k, v, w]`` is the weight with which output joint ``w`` aggregates input joint ``v``
    (models contract it as ``einsum("nkctv,kvw->nctw")``).  For each joint ``w`` its
    neighbourhood (itself and every joint within ``max_hop`` bones) is split by the distance
    to the centre of gravity, taken as the hop distance to the nearest ``centre`` joint:

    - ``k = 0`` root: ``w`` itself and neighbours as far from the centre as ``w``;
    - ``k = 1`` centripetal: neighbours closer to the centre than ``w``;
    - ``k = 2`` centrifugal: neighbours farther from the centre than ``w``.

    (The paper leaves equal-distance neighbours unassigned; they go with the root here, which
    keeps the three subsets disjoint and their sum the whole neighbourhood.)  Each column is
    divided by the size of that joint's full neighbourhood (ST-GCN's ``A D^-1``), so the
    partitions of a column sum to 1 and every value is finite.
    """
    if isinstance(max_hop, bool) or not isinstance(max_hop, int) or max_hop < 1:
        raise ValueError(f"max_hop must be an integer >= 1; got {max_hop!r}")
    if not centre:
        raise ValueError("centre must name at least one joint")
    index = _index(joint_names)
    hops = hop_distances(joint_names, bones)
    centre_idx = [_lookup(index, name, "centre") for name in centre]
    to_centre = hops[centre_idx].min(axis=0)
    unreachable = [joint_names[i] for i in np.flatnonzero(~np.isfinite(to_centre))]
    if unreachable:
        raise ValueError(
            f"joint(s) {', '.join(unreachable)} are not connected by bones to the centre "
            f"({', '.join(centre)}); the spatial partitioning needs a connected skeleton"
        )
    neighbourhood = hops <= max_hop  # includes self (distance 0)
    closer = to_centre[:, None] < to_centre[None, :]  # [v, w]: v closer to the centre than w
    farther = to_centre[:, None] > to_centre[None, :]
    parts = np.stack(
        [
            neighbourhood & ~closer & ~farther,
            neighbourhood & closer,
            neighbourhood & farther,
        ]
    ).astype(np.float64)
    degree = neighbourhood.sum(axis=0)  # >= 1 because of the self loop
    return parts / degree[None, None, :]


@dataclass(frozen=True)
class SkeletonGraph:
    """A skeleton's joints, bones and centre of gravity; ``adjacency`` is what models take."""

    joint_names: tuple[str, ...]
    bones: tuple[tuple[str, str], ...]
    centre: tuple[str, ...] = ("left_hip", "right_hip")

    def __post_init__(self) -> None:
        # Normalise lists (e.g. from YAML) so the graph stays hashable and immutable.
        object.__setattr__(self, "joint_names", tuple(self.joint_names))
        object.__setattr__(self, "bones", tuple((str(a), str(b)) for a, b in self.bones))
        object.__setattr__(self, "centre", tuple(self.centre))

    @classmethod
    def default(cls) -> SkeletonGraph:
        """motorflow's 21-joint skeleton plus ``HEAD_TO_TORSO``, centred on the hips."""
        return cls(JOINT_NAMES, BONES + HEAD_TO_TORSO)

    @property
    def V(self) -> int:
        """Number of joints (the symbol skeleton papers use)."""
        return len(self.joint_names)

    @property
    def adjacency(self) -> np.ndarray:
        """``(3, V, V)`` spatial-configuration partitions (a fresh array on every call)."""
        return spatial_adjacency(self.joint_names, self.bones, self.centre)


def _index(joint_names: Sequence[str]) -> dict[str, int]:
    index = {name: i for i, name in enumerate(joint_names)}
    if len(index) != len(joint_names):
        raise ValueError("joint_names contains duplicates")
    return index


def _lookup(index: dict[str, int], name: str, what: str) -> int:
    try:
        return index[name]
    except KeyError:
        raise ValueError(f"{what} joint {name!r} is not one of the skeleton's joints") from None


def _bfs(neighbours: list[list[int]], sources: list[int], v: int) -> np.ndarray:
    dist = np.full(v, np.inf)
    queue = deque(sources)
    for s in sources:
        dist[s] = 0
    while queue:
        i = queue.popleft()
        for j in neighbours[i]:
            if not np.isfinite(dist[j]):
                dist[j] = dist[i] + 1
                queue.append(j)
    return dist
