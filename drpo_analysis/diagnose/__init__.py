"""Diagnose logged rollouts: read per-token arrays, lint them, measure mismatch, what-if."""
