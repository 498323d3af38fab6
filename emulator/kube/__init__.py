"""The lab's emulated Kubernetes API server.

``KubeStore`` (store.py) holds the objects and the API's rules; ``build_app``/``serve``
(routes.py) put it on HTTP for kubectl and the Python client; objects.py, workloads.py and
addons.py build realistic objects; seed.py fills a store with a demo cluster. Importing this
package does not import the ``kubernetes`` client.
"""

from .errors import KubeApiError
from .routes import build_app, serve
from .store import KubeStore

__all__ = ["KubeApiError", "KubeStore", "build_app", "serve"]
