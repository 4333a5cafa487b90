"""LabelIndex: labels -> bitsets of objects, so a selector costs a few big-integer ANDs.
"""

from __future__ import annotations

from collections.abc import Mapping

from netpol_fix.model.selectors import LabelSelector, Requirement


class LabelIndex:
    """Inverted index from labels to bitsets of objects, for set-algebra selector matching.

    Matching a selector against thousands of pods one by one is what makes naive analyzers
    slow; with the index a selector costs a few big-integer ANDs and ORs.
    """

    def __init__(self, label_sets: list[Mapping[str, str]]) -> None:
        self.size = len(label_sets)
        self.all = (1 << self.size) - 1
        self._by_pair: dict[tuple[str, str], int] = {}
        self._by_key: dict[str, int] = {}
        for i, labels in enumerate(label_sets):
            bit = 1 << i
            for key, value in labels.items():
                self._by_pair[(key, value)] = self._by_pair.get((key, value), 0) | bit
                self._by_key[key] = self._by_key.get(key, 0) | bit
        self._cache: dict[LabelSelector, int] = {}

    def select(self, selector: LabelSelector) -> int:
        """Bitset of the objects `selector` matches."""
        cached = self._cache.get(selector)
        if cached is not None:
            return cached
        bits = self.all
        for key, value in selector.match_labels:
            bits &= self._by_pair.get((key, value), 0)
        for req in selector.match_expressions:
            if not bits:
                break
            bits &= self._requirement_bits(req)
        self._cache[selector] = bits
        return bits

    def _requirement_bits(self, req: Requirement) -> int:
        if req.operator in ("In", "NotIn"):
            hit = 0
            for value in req.values:
                hit |= self._by_pair.get((req.key, value), 0)
            return hit if req.operator == "In" else self.all & ~hit
        has_key = self._by_key.get(req.key, 0)
        return has_key if req.operator == "Exists" else self.all & ~has_key
