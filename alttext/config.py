"""Effective settings: built-in defaults < config file (TOML) < ``ALTTEXT_*`` environment < command-line flags.

Every value remembers where it came from so ``alttext config`` can explain it. Secrets (the OpenAI key)
are never printed and never stored in the index.
"""

from __future__ import annotations

import dataclasses
import os
import stat
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from alttext.vocabulary import PRECISION_CHOICES

APP_NAME = "alttext"
DEFAULT_MODEL = "nlpconnect/vit-gpt2-image-captioning"
DEFAULT_CAPTION_ENDPOINT = "http://127.0.0.1:11434/v1"  # Ollama's OpenAI-compatible API on this machine


class ConfigError(Exception):
    """The configuration file or an environment variable holds a value we cannot use."""


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"not a boolean: {value!r}")


def _optional_int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    return int(value)


def _positive_int(value: Any) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(f"must be at least 1, not {number}")
    return number


def _positive_float(value: Any) -> float:
    number = float(value)
    if not number > 0 or number == float("inf"):
        raise ValueError(f"must be a positive number of seconds, not {value!r}")
    return number


@dataclass(frozen=True)
class SettingSpec:
    name: str
    default: Any
    parse: Callable[[Any], Any]
    help: str
    secret: bool = False
    env_only: bool = False  # read from the environment only: a config file's value is ignored, with a warning

    @property
    def env_var(self) -> str:
        return f"ALTTEXT_{self.name.upper()}"


DEVICE_HELP = "auto, cpu, cuda, cuda:N or mps"


def parse_device(value: Any) -> str:
    """A device name torch understands, checked by its spelling only (whether it exists is known when
    the model loads): a typo is a usage error at once, not a traceback from deep inside torch."""
    text = str(value).strip().lower()
    kind, _, number = text.partition(":")
    if text in {"auto", "cpu", "mps", "cuda"} or (kind == "cuda" and number.isdigit()):
        return text
    raise ValueError(f"unknown device {str(value)!r}: use {DEVICE_HELP}")


def parse_precision(value: Any) -> str:
    text = str(value).strip().lower()
    if text in PRECISION_CHOICES:
        return text
    raise ValueError(f"unknown precision {str(value)!r}: use {', '.join(PRECISION_CHOICES)}")


def _default_db() -> str:
    return str(platformdirs.user_data_path(APP_NAME) / "index.sqlite3")


SPECS: tuple[SettingSpec, ...] = (
    SettingSpec("model", DEFAULT_MODEL, str,
                "captioning model: Hugging Face hub id, local folder, or openai:NAME (a model on caption_endpoint)"),
    SettingSpec("caption_prompt", None, str, "alt-text prompt for chat vision-language models (default: built in)"),
    SettingSpec("describe", False, _to_bool, "also store a long description (prompt-driven models only)"),
    SettingSpec("read_text", False, _to_bool, "also read and store the text in each picture (prompt-driven models)"),
    SettingSpec("db", None, str, "the index: an SQLite file, or a postgresql:// database address"),
    SettingSpec("beams", None, _optional_int, "beam width (default: the model's generation config)"),
    SettingSpec("max_tokens", None, _optional_int, "max new tokens (default: the model's generation config)"),
    SettingSpec("batch_size", None, _optional_int,
                "images per model call (default: the model's; 32 for vit-gpt2-style models on CPU, else 8)"),
    SettingSpec("quantize", "none", str, "none or int8 (dynamic int8 on CPU)"),
    SettingSpec("device", "auto", parse_device, DEVICE_HELP),
    SettingSpec("precision", "auto", parse_precision,
                "model dtype: auto (bf16/fp16 on a GPU, fp32 on CPU), fp32, bf16 or fp16"),
    SettingSpec("threads", None, _optional_int, "torch CPU threads (default: all cores)"),
    SettingSpec("decode_threads", 2, _positive_int, "threads that read, key and decode photos ahead of the model"),
    SettingSpec("lang", "en", str, "language of the alt text (used in XMP Lang Alt)"),
    SettingSpec("max_image_pixels", 178_956_970, int, "decompression-bomb limit in pixels"),
    SettingSpec("url_max_bytes", 50 * 1024 * 1024, int, "largest image downloaded from a URL"),
    SettingSpec("url_timeout", 20.0, float, "seconds before a URL download gives up"),
    SettingSpec("scan_interval", 3600.0, float, "seconds between reconcile scans in `watch`"),
    SettingSpec("settle_seconds", 2.0, float, "a file must be unchanged this long before captioning"),
    SettingSpec("watch_caption", True, _to_bool, "`watch` captions what it finds (false: it only queues, for workers)"),
    SettingSpec("worker_lease", 60.0, float, "seconds a worker's claim lasts unless renewed (`alttext worker`)"),
    SettingSpec("path_map", None, str, "a worker's mounts: /index/folder=/local/folder, several separated by ;"),
    SettingSpec("embed_fields", "alt,extdescr", str, "comma list of alt,description,exif,iptc,extdescr"),
    SettingSpec("sidecar_name", "ext.xmp", str, "sidecar naming: ext.xmp (IMG.jpg.xmp) or xmp (IMG.xmp)"),
    SettingSpec("openai_base_url", None, str, "OpenAI-compatible endpoint for variants"),
    SettingSpec("openai_model", "gpt-3.5-turbo", str, "chat model for creative variants"),
    SettingSpec("openai_api_key", None, str, "API key (prefer OPENAI_API_KEY)", secret=True),
    SettingSpec("variants_max_requests", 200, int, "cap on chat requests per run"),
    SettingSpec("variants_deadline", 60.0, float, "seconds one chat request may take in all (connect, reply, retries)"),
    SettingSpec("variants_max_reply_bytes", 1024 * 1024, int, "largest chat reply read (bytes)"),
    SettingSpec("caption_endpoint", DEFAULT_CAPTION_ENDPOINT, str,
                "OpenAI-compatible endpoint that captions for --model openai:NAME (default: Ollama here)"),
    SettingSpec("caption_api_key", None, str, "API key of caption_endpoint (environment only)", secret=True,
                env_only=True),
    SettingSpec("caption_concurrency", 4, _positive_int, "images captioned at once by caption_endpoint"),
    SettingSpec("caption_deadline", 120.0, _positive_float,
                "seconds one image may take at caption_endpoint in all (both texts, every retry)"),
    SettingSpec("caption_max_requests", None, _optional_int,
                "cap on caption_endpoint requests per run (default: none)"),
    SettingSpec("caption_max_reply_bytes", 256 * 1024, _positive_int, "largest reply read from caption_endpoint"),
    SettingSpec("verbose", False, _to_bool, "more log output"),
    SettingSpec("thumbnail_cache_mb", 512, int, "size cap of the thumbnail cache of `serve` (oldest evicted first)"),
    SettingSpec("cache_dir", None, str, "where thumbnails are cached (default: the per-user cache folder)"),
    SettingSpec("upload_folder", None, str, "where `serve` keeps uploads a person adds to the library"),
)
SPEC_BY_NAME = {spec.name: spec for spec in SPECS}

# Standard variables that other tools already use; they rank with the ALTTEXT_* ones.
EXTRA_ENV = {"openai_api_key": "OPENAI_API_KEY", "openai_base_url": "OPENAI_BASE_URL"}


def config_path(environ: Mapping[str, str] | None = None) -> Path:
    override = _config_override(os.environ if environ is None else environ)
    if override is not None:
        return override
    return platformdirs.user_config_path(APP_NAME) / "config.toml"


def _config_override(environ: Mapping[str, str]) -> Path | None:
    """The file ``ALTTEXT_CONFIG`` names, or None when it is unset or empty."""
    override = environ.get("ALTTEXT_CONFIG")
    return Path(override).expanduser() if override else None




@dataclass(frozen=True)
class Settings:
    """The effective value of every setting in ``SPECS`` (same names, same order), plus where each came from.

    Build one with ``load_settings()``; ``replace()`` applies command-line overrides.
    """

    model: str
    caption_prompt: str | None
    describe: bool
    read_text: bool
    db: str
    beams: int | None
    max_tokens: int | None
    batch_size: int | None
    quantize: str
    device: str
    precision: str
    threads: int | None
    decode_threads: int
    lang: str
    max_image_pixels: int
    url_max_bytes: int
    url_timeout: float
    scan_interval: float
    settle_seconds: float
    watch_caption: bool
    worker_lease: float
    path_map: str | None
    embed_fields: str
    sidecar_name: str
    openai_base_url: str | None
    openai_model: str
    openai_api_key: str | None
    variants_max_requests: int
    variants_deadline: float
    variants_max_reply_bytes: int
    caption_endpoint: str
    caption_api_key: str | None
    caption_concurrency: int
    caption_deadline: float
    caption_max_requests: int | None
    caption_max_reply_bytes: int
    verbose: bool
    thumbnail_cache_mb: int
    cache_dir: str
    upload_folder: str
    # Provenance, not settings: name -> "default", "config file PATH", "environment VAR" or "command line".
    sources: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def replace(self, **overrides: Any) -> Settings:
        """A copy with command-line overrides applied (None means 'flag not given')."""
        changed: dict[str, Any] = {}
        sources = dict(self.sources)
        for name, value in overrides.items():
            if value is None:
                continue
            changed[name] = SPEC_BY_NAME[name].parse(value)
            sources[name] = "command line"
        return dataclasses.replace(self, **changed, sources=sources, warnings=list(self.warnings))

    def public_items(self) -> list[tuple[str, Any, str]]:
        """(name, value, source) for every setting; secrets are replaced by "set (hidden)" or None."""
        rows = []
        for spec in SPECS:
            value = getattr(self, spec.name)
            if spec.secret:
                value = "set (hidden)" if value else None
            rows.append((spec.name, value, self.sources.get(spec.name, "default")))
        return rows


_PROVENANCE = ("sources", "warnings")
if [f.name for f in dataclasses.fields(Settings) if f.name not in _PROVENANCE] != [spec.name for spec in SPECS]:
    raise AssertionError("Settings' fields must match SPECS (same names, same order)")


def _read_config_file(path: Path, warnings: list[str]) -> Mapping[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    unknown = sorted(set(data) - set(SPEC_BY_NAME))
    if unknown:
        warnings.append(f"config file {path}: unknown setting(s) ignored: {', '.join(unknown)}")
    if data.get("openai_api_key"):
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            warnings.append(
                f"config file {path} holds an API key but is readable by others; run: chmod 600 {path}"
            )
    return data


def load_settings(environ: Mapping[str, str] | None = None, path: Path | None = None) -> Settings:
    environ = os.environ if environ is None else environ
    if path is None:
        path = config_path(environ)
        named = _config_override(environ)
        # A file named on purpose that isn't there is a mistake (a typo, a missing mount): say so rather
        # than run on the defaults. The default location may be absent.
        if named is not None and not named.exists():
            raise ConfigError(f"config file {named} (from ALTTEXT_CONFIG) does not exist")
    warnings: list[str] = []
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    file_values = _read_config_file(path, warnings)
    for spec in SPECS:
        value: Any = spec.default
        source = "default"
        if spec.name in file_values and spec.env_only:
            warnings.append(f"config file {path}: {spec.name} is read only from {spec.env_var}; ignored")
        elif spec.name in file_values:
            value, source = file_values[spec.name], f"config file {path}"
        for var in (spec.env_var, EXTRA_ENV.get(spec.name)):
            if var and environ.get(var) not in (None, ""):
                value, source = environ[var], f"environment {var}"
                break
        if value is not None:
            try:
                value = spec.parse(value)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"setting {spec.name} from {source}: {exc}") from exc
        values[spec.name] = value
        sources[spec.name] = source
    if values["db"] is None:
        values["db"] = _default_db()
    if values["cache_dir"] is None:
        values["cache_dir"] = str(platformdirs.user_cache_path(APP_NAME))
    if values["upload_folder"] is None:
        values["upload_folder"] = str(platformdirs.user_data_path(APP_NAME) / "uploads")
    return Settings(**values, sources=sources, warnings=warnings)
