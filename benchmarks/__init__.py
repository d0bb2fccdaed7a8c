"""Everything that turns a plugin and a dataset into a number: suites, data, training, evaluation."""

__version__ = "0.1.0"
