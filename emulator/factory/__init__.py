"""The emulated Talos Image Factory: models.py (state and rules), routes.py (HTTP), errors.py."""
