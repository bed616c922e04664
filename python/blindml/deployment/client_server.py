"""Alias of blindml.deployment.fhe_client_server (older Concrete ML code imports this name)."""

from .fhe_client_server import FHEModelClient, FHEModelDev, FHEModelServer  # noqa: F401

__all__ = ["FHEModelDev", "FHEModelClient", "FHEModelServer"]
