"""iter_bits: both of its paths (sparse sets peeled bit by bit, dense ones read as binary
text) give every set bit, ascending, and nothing else."""

from __future__ import annotations

import random

import pytest

from netpol_fix.engine.network import SPARSE_BITS, iter_bits


def _reference(bits: int) -> list[int]:
    return [i for i in range(bits.bit_length()) if bits >> i & 1]


@pytest.mark.parametrize("count", [0, 1, 2, SPARSE_BITS - 1, SPARSE_BITS, SPARSE_BITS + 1,
                                   200, 4999])
def test_every_set_bit_ascending_on_both_sides_of_the_threshold(count: int) -> None:
    rng = random.Random(count)
    for width in (count or 1, 64, 5000):
        if count > width:
            continue
        indices = sorted(rng.sample(range(width), count))
        bits = sum(1 << i for i in indices)
        assert list(iter_bits(bits)) == indices == _reference(bits)


def test_full_and_edge_sets() -> None:
    assert list(iter_bits(0)) == []
    assert list(iter_bits(1)) == [0]
    assert list(iter_bits(1 << 4999)) == [4999]
    assert list(iter_bits((1 << 5000) - 1)) == list(range(5000))
