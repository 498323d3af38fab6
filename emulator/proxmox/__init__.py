"""The emulated Proxmox VE API: models.py (state and rules), routes.py (HTTP), errors.py."""
