pytest_plugins = [
    "fixtures.options",
    "fixtures.cluster",
    "fixtures.evidence",
    "fixtures.ordering",
    "fixtures.upgrade",
    "fixtures.rebuild",
    "fixtures.run_summary",
    "fixtures.bundle",
    "fixtures.change_gate",
    "fixtures.progress",
]
