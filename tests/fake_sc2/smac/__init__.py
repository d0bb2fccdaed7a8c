"""Test double of oxwhirl's smac (tests/fake_sc2/fakesc2.py)."""
