"""Offline bundles for air-gapped machines: `build` (make bundle) and `install` (stdlib only)."""
