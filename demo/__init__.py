"""`make demo`: redis-warden end to end on an embedded default (see `demo/__main__.py`)."""
