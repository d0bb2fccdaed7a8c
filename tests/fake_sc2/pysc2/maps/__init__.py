"""Test double of ``pysc2.maps``: ``get(name)`` looks a map up among every registered ``lib.Map`` subclass."""
from pysc2.maps.lib import DuplicateMapError, Map, NoMapError, get, get_maps

__all__ = ["DuplicateMapError", "Map", "NoMapError", "get", "get_maps"]
