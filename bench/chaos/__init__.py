"""The fault suite: the whole service under production faults, with honest counts (scripts/chaos)."""
