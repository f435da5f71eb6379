"""Tests of the local cluster itself: what our set-up of the node must get right."""
