"""Tests of the runner (unit/runtime)."""
