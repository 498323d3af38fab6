"""The steps the upgrade-shaped runbooks share, phase by phase. Each runbook's test_NN module
imports the steps it composes; they run in the order they are written here (pytest collects a
step under the importing module's name, so test ids stay the runbook's own)."""
