"""Helpers shared by the integration and end-to-end tiers (real servers, no fakes)."""
