"""Content-addressed on-disk cache with atomic entries.

Each entry is a folder named by the SHA-256 of its stage name and of every
input it depends on (subject, layer, budget, corpus digest, stage version).
A changed input gives a new key, so a stale result is never reused. An entry
is built in a temporary folder and renamed into place only when complete, and
its manifest records each file's size and digest: a truncated or altered
entry is detected on the next read, logged in one line and rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

logger = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
_HASH_CHUNK_BYTES = 1 << 22


def default_cache_dir() -> Path:
    """Return $CONCEPT_GEOMETRY_CACHE, else $XDG_CACHE_HOME/concept-geometry, else ~/.cache/concept-geometry."""
    if os.environ.get("CONCEPT_GEOMETRY_CACHE"):
        return Path(os.environ["CONCEPT_GEOMETRY_CACHE"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "concept-geometry"


def file_sha256(path: Path) -> str:
    """Return the hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def cache_key(stage: str, inputs: dict) -> str:
    """Return the hex key of an entry: the SHA-256 of its stage and canonical JSON inputs."""
    canonical = json.dumps({"stage": stage, "inputs": inputs}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def write_json(path: Path, value: object) -> None:
    """Write strict JSON (NaN and infinity rejected) to a file."""
    Path(path).write_text(json.dumps(value, indent=1, sort_keys=True, allow_nan=False))


class CorruptEntry(Exception):
    """A cache entry whose files do not match its manifest."""


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_abandoned_partials(stage_folder: Path) -> None:
    """Delete temporary build folders whose process is gone (killed before it could clean up).

    A build folder is named `.partial-<entry>-<pid>-<random>`; one whose pid
    no longer runs on this machine can never be completed.
    """
    for folder in stage_folder.glob(".partial-*"):
        parts = folder.name.split("-")
        if len(parts) >= 4 and parts[2].isdigit() and not _process_alive(int(parts[2])):
            logger.info("removing %s, left by a build that was killed", folder)
            shutil.rmtree(folder, ignore_errors=True)


class Cache:
    """A folder of entries, each addressed by (stage, inputs).

    Parameters
    ----------
    root : Path
        Folder holding the entries; created when first written.
    """

    def __init__(self, root: Path):
        self.root = Path(root)

    def entry_path(self, stage: str, inputs: dict) -> Path:
        """Return where the entry of (stage, inputs) lives, whether or not it exists."""
        return self.root / stage / cache_key(stage, inputs)[:32]

    def lookup(self, stage: str, inputs: dict) -> Path | None:
        """Return the folder of a complete, verified entry, or None when there is none; never builds."""
        final = self.entry_path(stage, inputs)
        if not final.exists():
            return None
        try:
            self._verify(final)
        except CorruptEntry:
            return None
        return final

    def fetch(self, stage: str, inputs: dict, build: Callable[[Path], None]) -> Path:
        """Return the folder of a complete entry, building it first when it is missing or corrupt.

        Parameters
        ----------
        stage : str
            Name of the pipeline stage, e.g. "activations" or "sae".
        inputs : dict
            JSON-serialisable description of everything the entry depends on.
        build : callable
            Writes the entry's files into the empty folder it is given. It is
            called at most once per fetch.
        """
        final = self.entry_path(stage, inputs)

        if final.exists():
            try:
                self._verify(final)
                return final
            except CorruptEntry as problem:
                logger.warning("cache entry %s/%s is corrupt (%s); rebuilding it", stage, final.name, problem)
                shutil.rmtree(final, ignore_errors=True)

        final.parent.mkdir(parents=True, exist_ok=True)
        _remove_abandoned_partials(final.parent)
        partial = Path(tempfile.mkdtemp(prefix=f".partial-{final.name}-{os.getpid()}-", dir=final.parent))
        try:
            build(partial)
            self._write_manifest(partial, stage, inputs)
            try:
                os.rename(partial, final)
            except OSError:
                # Another process finished the same entry first; keep theirs.
                if not final.exists():
                    raise
                shutil.rmtree(partial, ignore_errors=True)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise

        return final

    @staticmethod
    def _write_manifest(folder: Path, stage: str, inputs: dict) -> None:
        files = {}
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                name = path.relative_to(folder).as_posix()
                files[name] = {"size": path.stat().st_size, "sha256": file_sha256(path)}

        manifest = {
            "stage": stage,
            "inputs": inputs,
            "files": files,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        write_json(folder / MANIFEST_NAME, manifest)

    @staticmethod
    def _verify(folder: Path) -> None:
        manifest_path = folder / MANIFEST_NAME
        try:
            manifest = json.loads(manifest_path.read_text())
            files = manifest["files"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise CorruptEntry(f"unreadable manifest: {error}") from None

        for name, expected in files.items():
            path = folder / name
            if not path.is_file():
                raise CorruptEntry(f"{name} is missing")
            size = path.stat().st_size
            if size != expected["size"]:
                raise CorruptEntry(f"{name} has {size} bytes, expected {expected['size']}")
            if file_sha256(path) != expected["sha256"]:
                raise CorruptEntry(f"{name} does not match its recorded SHA-256")
