"""Everything that talks to ARM: shared plumbing and one module per service."""
