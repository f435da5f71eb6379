"""Tests of the runner (integration/runtime)."""
