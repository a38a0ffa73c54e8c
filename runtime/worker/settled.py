"""The worker's memory of the messages it acknowledged, so that a redelivery after a NATS restart never runs.

A restarted server can miss an acknowledgement sent just before it stopped and deliver the message afresh, as
a first delivery (so the call record is not consulted). The worker remembers the last ``capacity`` messages it
acknowledged and forgets the oldest first. A message is (stream sequence, stored timestamp in microseconds):
the sequence names it in the work stream, the timestamp tells apart messages of a re-created stream.

Flat integer arrays instead of Python objects, allocated once: a ring of the entries in the order they were
settled and an open-addressing index into it (linear probing, deletion by backward shift). About 26 bytes per
entry; an ``OrderedDict`` of ``(function, sequence, datetime)`` keys took about 330.
"""

from __future__ import annotations

from array import array

__all__ = ["SettledMessages"]

_EMPTY = -1


class SettledMessages:
    def __init__(self, capacity: int) -> None:
        if not 0 < capacity < 2**30:
            raise ValueError(f"capacity must be between 1 and 2**30, not {capacity}")
        self._capacity = capacity
        self._sequences = array("q", bytes(8 * capacity))
        self._stamps = array("q", bytes(8 * capacity))
        """The ring: entry ``i`` is (``_sequences[i]``, ``_stamps[i]``)."""
        self._count = 0
        self._next = 0
        """Ring position of the next entry; once the ring is full, that of the oldest."""
        slots = 1 << (2 * capacity - 1).bit_length()  # at least twice the capacity: short probe runs
        self._mask = slots - 1
        self._index = array("i", [_EMPTY]) * slots
        """Hash slot -> ring position, or _EMPTY."""

    def __len__(self) -> int:
        return self._count

    def __repr__(self) -> str:
        return f"SettledMessages({self._count}/{self._capacity})"

    def holds(self, sequence: int, stamp: int) -> bool:
        return self._index[self._slot(sequence, stamp)] != _EMPTY

    def add(self, sequence: int, stamp: int) -> None:
        """Remember a settled message; at capacity, forget the oldest. A message held already keeps its place
        (as a key assigned again in an ``OrderedDict`` does)."""
        if self.holds(sequence, stamp):
            return
        if self._count == self._capacity:
            self._forget_oldest()
        else:
            self._count += 1
        position = self._next
        self._sequences[position] = sequence
        self._stamps[position] = stamp
        self._index[self._slot(sequence, stamp)] = position
        self._next = (position + 1) % self._capacity

    def _home(self, sequence: int, stamp: int) -> int:
        # the tuple hash mixes the bits; sequences alone are consecutive and would cluster in linear probing
        return hash((sequence, stamp)) & self._mask

    def _slot(self, sequence: int, stamp: int) -> int:
        """The index slot of this entry, or the empty slot where probing for it stops."""
        slot = self._home(sequence, stamp)
        while (position := self._index[slot]) != _EMPTY:
            if self._sequences[position] == sequence and self._stamps[position] == stamp:
                return slot
            slot = (slot + 1) & self._mask
        return slot

    def _forget_oldest(self) -> None:
        position = self._next
        hole = self._slot(self._sequences[position], self._stamps[position])
        # backward shift: later entries of the probe run move into the hole unless that would put them
        # before their home slot, so every entry stays reachable from its home without tombstones
        probe = hole
        while True:
            probe = (probe + 1) & self._mask
            moving = self._index[probe]
            if moving == _EMPTY:
                break
            home = self._home(self._sequences[moving], self._stamps[moving])
            if (probe - home) & self._mask >= (probe - hole) & self._mask:
                self._index[hole] = moving
                hole = probe
        self._index[hole] = _EMPTY
