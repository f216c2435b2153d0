"""Rules for Azure Managed Redis (`Microsoft.Cache/redisEnterprise`), one module per control."""
