"""Benchmarks that print figures (issue 2 item 8). Nothing here is asserted by the test suite."""
