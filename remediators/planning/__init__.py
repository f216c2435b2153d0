"""Findings -> ordered, minimal, safety-checked ARM steps, one module per resource kind."""
