"""Shared state in Azure Storage: leases, dedup, breaker and flap rows, the baseline ledger."""
