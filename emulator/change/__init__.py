"""The emulated change-management API: models.py (the changes and their rules), routes.py
(ServiceNow and Jira dialects over HTTP). See emulator/COVERAGE.md, "Change management"."""
