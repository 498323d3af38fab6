"""Where run records live: <backups.etcd_snapshot_dir>/runs/<run_id>.json, next to the etcd
snapshots. The one reader and writer of model.run_record.RunRecord files; every write is
atomic (a temporary file renamed over the old one), so a killed session leaves the last
complete record."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from model.run_record import RecordError, RunRecord


@dataclass(frozen=True)
class RunStore:
    directory: Path

    def path_of(self, record: RunRecord) -> Path:
        return self.directory / f"{record.run_id}.json"

    def save(self, record: RunRecord, path: Path | None = None) -> Path:
        path = path or self.path_of(record)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record.to_dict(), indent=2))
        tmp.replace(path)
        return path

    @staticmethod
    def load(path: Path) -> RunRecord:
        """The record in `path`; RecordError naming the file (and the field) otherwise."""
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise RecordError(f"{path}: not a readable run record: {e}") from None
        return RunRecord.from_dict(data, str(path))

    def unreadable(self) -> list[str]:
        """Why each file of the store that is not a readable record is not one."""
        problems = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                self.load(path)
            except RecordError as e:
                problems.append(str(e))
        return problems

    def all_for(self, cluster: str) -> list[tuple[Path, RunRecord]]:
        """Every readable record of `cluster`, oldest first: by the time it started (parsed),
        then by when the file was last written. Unreadable files are not records: skipped."""
        found: list[tuple[float, Path, RunRecord]] = []
        for path in self.directory.glob("*.json"):
            try:
                rec = self.load(path)
            except RecordError:
                continue
            if rec.cluster == cluster:
                found.append((path.stat().st_mtime, path, rec))
        found.sort(key=lambda f: (f[2].started, f[0]))
        return [(path, rec) for _, path, rec in found]
