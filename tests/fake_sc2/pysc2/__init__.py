"""Test double of pysc2 (tests/fake_sc2): only the map registry, which is where smac and smacv2 collide."""
