"""Tests of the runner (integration/cli)."""
