"""Examples of using the service from the outside; not part of it (not packaged, not imported by it)."""
