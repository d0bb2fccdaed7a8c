"""Test double of oxwhirl's smacv2 (tests/fake_sc2/fakesc2.py)."""
