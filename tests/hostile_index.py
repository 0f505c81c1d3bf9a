"""Doctored indexes: what an attacker or a failing disk can do to an index folder, one function each.

Each takes a built local index folder and changes it in place; `MUTATIONS` are byte-level damages
for any file (used by the tests and by bench/hostile_index.py, which applies them to every file of a
generation).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

#: What a planted model's code writes when it runs (the tests check the file never appears).
MARKER = "remote-code-ran"


def generation(index_dir: Path) -> Path:
    """The live generation's folder."""
    return index_dir / (index_dir / "CURRENT").read_text(encoding="utf-8").splitlines()[0]


def edit_manifest(index_dir: Path, change: Callable[[dict], None]) -> None:
    """Rewrite the live manifest through `change` (its checksum in CURRENT is left as it was)."""
    path = generation(index_dir) / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    change(manifest)
    path.write_text(json.dumps(manifest), encoding="utf-8")


def point_at_endpoint(index_dir: Path, api_base: str, key_env: str) -> None:
    """Make the index's model a remote one served at `api_base`, with its key in `key_env`."""

    def change(manifest: dict) -> None:
        manifest["model"]["name"] = "openai:planted"
        manifest["config"]["dense"] |= {"model": "openai:planted", "api_base": api_base, "api_key_env": key_env}

    edit_manifest(index_dir, change)


def plant_remote_code(index_dir: Path, model_folder: Path) -> Path:
    """Copy a custom-code model folder into the generation, make its module write MARKER next to the
    index when it is imported, and point the manifest's model at it with trust_remote_code."""
    import shutil

    planted = generation(index_dir) / "model"
    shutil.copytree(model_folder, planted)
    marker = index_dir.parent / MARKER
    module = planted / "sse_module.py"
    module.write_text(f"open({str(marker)!r}, 'w').close()\n" + module.read_text(encoding="utf-8"), encoding="utf-8")

    def change(manifest: dict) -> None:
        manifest["model"] |= {"name": str(planted), "trust_remote_code": True}
        manifest["config"]["dense"] |= {"model": str(planted), "trust_remote_code": True}

    edit_manifest(index_dir, change)
    return marker


def point_outside(index_dir: Path) -> Path:
    """A generation folder outside the index, and CURRENT naming it through `..`."""
    outside = index_dir.parent / "outside" / "evilgen"
    outside.mkdir(parents=True)
    current = index_dir / "CURRENT"
    name = current.read_text(encoding="utf-8").splitlines()[0]
    current.write_text(f"{name}/../../outside/evilgen\n", encoding="utf-8")
    return outside


def _flip(data: bytearray, at: int) -> None:
    data[at] ^= 0xFF


def _at(fraction: float) -> Callable[[bytearray, random.Random], None]:
    def mutate(data: bytearray, rng: random.Random) -> None:
        if data:
            _flip(data, min(len(data) - 1, int(fraction * len(data))))

    return mutate


def _set(value: int, count: int) -> Callable[[bytearray, random.Random], None]:
    def mutate(data: bytearray, rng: random.Random) -> None:
        if data:
            start = rng.randrange(len(data))
            data[start : start + count] = bytes([value]) * len(data[start : start + count])

    return mutate


def _random_flip(data: bytearray, rng: random.Random) -> None:
    if data:
        _flip(data, rng.randrange(len(data)))


def _truncate(fraction: float) -> Callable[[bytearray, random.Random], None]:
    def mutate(data: bytearray, rng: random.Random) -> None:
        del data[int(fraction * len(data)) :]

    return mutate


def _append(data: bytearray, rng: random.Random) -> None:
    data.extend(rng.randbytes(64))


def _swap(data: bytearray, rng: random.Random) -> None:
    if len(data) > 2:
        i, j = rng.randrange(len(data)), rng.randrange(len(data))
        data[i], data[j] = data[j], data[i]


#: Byte-level damage, by name: flips at fixed places (header, middle, end), runs of 0x00 and 0xFF,
#: random flips, truncation, appended garbage, swapped bytes, an emptied file.
MUTATIONS: dict[str, Callable[[bytearray, random.Random], None]] = {
    "flip first byte": _at(0.0),
    "flip byte 8": lambda data, rng: _flip(data, min(8, len(data) - 1)) if data else None,
    "flip byte 64": lambda data, rng: _flip(data, min(64, len(data) - 1)) if data else None,
    "flip at 1/3": _at(1 / 3),
    "flip in the middle": _at(0.5),
    "flip near the end": _at(0.98),
    "flip last byte": _at(1.0),
    "random flip": _random_flip,
    "zeros": _set(0x00, 16),
    "0xFF run": _set(0xFF, 16),
    "0x7F byte": _set(0x7F, 1),
    "truncate to half": _truncate(0.5),
    "truncate to one byte": _truncate(1 / (1 << 30)),
    "append garbage": _append,
    "swap two bytes": _swap,
    "empty": _truncate(0.0),
}


def mutate(path: Path, name: str, seed: int = 0) -> None:
    """Apply `MUTATIONS[name]` to the file at `path`."""
    data = bytearray(path.read_bytes())
    MUTATIONS[name](data, random.Random(seed))
    path.write_bytes(bytes(data))
