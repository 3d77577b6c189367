"""thresher.pipeline: the stage contract, config, shard I/O, the Ray runner and the CLI."""

__version__ = "0.1.0"
