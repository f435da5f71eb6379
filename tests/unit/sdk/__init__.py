"""Tests of the runner (unit/sdk)."""
