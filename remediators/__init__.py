"""redis-warden: event-driven compliance remediation for Azure Cache for Redis and Azure Managed Redis."""

__version__ = "0.1.0"
