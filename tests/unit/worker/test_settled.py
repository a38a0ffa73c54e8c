"""SettledMessages holds exactly what the worker's former OrderedDict memory held: the last ``capacity``
settled messages, oldest forgotten first, a message added again keeping its place."""

from __future__ import annotations

from collections import OrderedDict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyfaas.worker.settled import SettledMessages

# few distinct values, so that keys repeat, share a sequence (a re-created stream) and collide in small tables
_keys = st.tuples(st.integers(1, 40), st.sampled_from([1_795_000_000_000_000, 1_795_000_000_000_001, 7]))


class _Reference:
    """The former memory: an OrderedDict bounded by popping its oldest key."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.keys: OrderedDict[tuple[int, int], None] = OrderedDict()

    def add(self, key: tuple[int, int]) -> None:
        self.keys[key] = None
        if len(self.keys) > self.capacity:
            self.keys.popitem(last=False)


@settings(max_examples=400, deadline=None)
@given(capacity=st.integers(1, 12), added=st.lists(_keys, max_size=200), probes=st.lists(_keys, max_size=20))
def test_holds_exactly_what_the_ordered_dict_held(
    capacity: int, added: list[tuple[int, int]], probes: list[tuple[int, int]]
) -> None:
    memory = SettledMessages(capacity)
    reference = _Reference(capacity)
    for key in added:
        memory.add(*key)
        reference.add(key)
        assert len(memory) == len(reference.keys)
        assert memory.holds(*key)
        # everything still remembered is found, whatever the probe runs look like after deletions
        assert all(memory.holds(*kept) for kept in reference.keys)
    for key in probes + added:
        assert memory.holds(*key) == (key in reference.keys), key


def test_a_long_run_of_consecutive_sequences_stays_exact() -> None:
    memory = SettledMessages(1000)
    stamp = 1_795_000_000_000_000
    for sequence in range(1, 5001):
        memory.add(sequence, stamp + sequence)
    assert len(memory) == 1000
    assert [s for s in range(1, 5001) if memory.holds(s, stamp + s)] == list(range(4001, 5001))
    # the same sequences of a re-created stream (other timestamps) are not taken for settled ones
    assert not any(memory.holds(s, stamp + s + 1) for s in range(4001, 5001))


def test_capacity_is_checked() -> None:
    with pytest.raises(ValueError, match="capacity"):
        SettledMessages(0)
