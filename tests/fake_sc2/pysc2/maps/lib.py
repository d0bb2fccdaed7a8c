"""Test double of ``pysc2.maps.lib``: maps are the subclasses of ``Map`` with a filename, looked up by class
name; two with one name raise ``DuplicateMapError`` at lookup, as pysc2 does when smac and smacv2 (which both
define "3m", "8m", ...) are loaded in one process."""


class DuplicateMapError(Exception):
    pass


class NoMapError(Exception):
    pass


class Map:
    directory = ""
    filename = None
    players = 2

    @classmethod
    def all_subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from sub.all_subclasses()


def get_maps() -> dict:
    found = {}
    for m in Map.all_subclasses():
        if m.filename:
            if m.__name__ in found:
                raise DuplicateMapError("Duplicate map found: " + m.__name__)
            found[m.__name__] = m
    return found


def get(name: str) -> Map:
    maps = get_maps()
    if name not in maps:
        raise NoMapError(f"Map doesn't exist: {name}")
    return maps[name]()
