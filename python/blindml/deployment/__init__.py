"""The deployment classes, with Concrete ML's names, arguments and methods
(concrete.ml.deployment): a developer writes client.zip and server.zip, a client generates keys,
encrypts and decrypts, a server runs the model on encrypted data.

    dev = FHEModelDev(path_dir, model); dev.save()
    client = FHEModelClient(path_dir, key_dir=keys)
    client.generate_private_and_evaluation_keys()
    ek = client.get_serialized_evaluation_keys()
    enc = client.quantize_encrypt_serialize(X)
    server = FHEModelServer(path_dir); server.load()
    res = server.run(enc, ek)
    y = client.deserialize_decrypt_dequantize(res)

The artifacts are blindml's own client.zip / server.zip (docs/formats.md), not Concrete ML's.
"""

from .fhe_client_server import FHEModelClient, FHEModelDev, FHEModelServer  # noqa: F401

__all__ = ["FHEModelDev", "FHEModelClient", "FHEModelServer"]
