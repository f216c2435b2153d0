"""Rules for Azure Cache for Redis (`Microsoft.Cache/redis`), one module per control."""
