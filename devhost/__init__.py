"""Local stand-ins for the Azure Functions host and its services (Azurite), for the demo and tests."""
