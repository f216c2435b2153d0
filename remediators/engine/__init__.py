"""Event intake and the reconcile of one cache."""
