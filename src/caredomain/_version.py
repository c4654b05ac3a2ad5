"""The version of caredomain, read by the build backend and by ``caredomain --version``."""

__version__ = "0.1.0"
