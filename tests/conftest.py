pytest_plugins = ["emulator.pytest_plugin"]
