"""Loading any Hugging Face image-to-text model (hub id or local folder) through the Auto classes."""

from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)


class ModelLoadError(Exception):
    """The model cannot be loaded; the message is one line a user can act on."""


@dataclass
class LoadedModel:
    model: Any
    image_processor: Any
    tokenizer: Any
    model_id: str
    revision: str | None
    device: str
    family: str = "encoder-decoder"  # alttext.captioning.families: read from the config, never the name
    processor: Any = None  # the AutoProcessor of prompt-driven families (its image processor and tokenizer above)
    precision: str = "fp32"  # the dtype the weights were loaded in (alttext.captioning.precision)


def looks_like_path(ref: str) -> bool:
    return ref.startswith(("/", "./", "../", "~")) or os.path.exists(os.path.expanduser(ref))


def pick_device(requested: str) -> str:
    """The device to run on; ``ModelLoadError`` (one line) when the one asked for isn't on this machine,
    rather than torch's traceback when the model is moved there."""
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    kind, _, number = requested.partition(":")
    if kind == "cuda":
        if not torch.cuda.is_available():
            build = "a CPU-only build of PyTorch" if torch.version.cuda is None else "no CUDA device found"
            raise ModelLoadError(f"--device {requested}: CUDA is not available ({build}); use --device cpu or auto")
        if number and int(number) >= torch.cuda.device_count():
            raise ModelLoadError(f"--device {requested}: there are {torch.cuda.device_count()} CUDA device(s)")
    elif kind == "mps" and not torch.backends.mps.is_available():
        raise ModelLoadError(f"--device {requested}: Apple's MPS is not available here; use --device cpu or auto")
    return requested


HUB_PROBE_TIMEOUT_S = 3.0
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "HTTP_PROXY", "http_proxy")
# What `alttext model fetch` leaves out: weights for frameworks other than PyTorch.
OTHER_FRAMEWORKS = ["*.h5", "*.msgpack", "*.onnx", "*.ot", "*.tflite", "tf_model*", "flax_model*", "rust_model*",
                    "onnx/*", "openvino/*", "coreml/*"]


def hub_reachable(timeout: float = HUB_PROBE_TIMEOUT_S) -> bool:
    """Whether the Hugging Face hub (``HF_ENDPOINT``) takes a connection within ``timeout`` seconds.

    Without this, a machine with no network waits half a minute in the hub client's retries (and logs
    each one) before the same error. The name lookup runs in a thread so that a hanging resolver is
    bounded too. Behind a proxy the hub isn't reached directly: assume it is reachable."""
    if any(os.environ.get(name) for name in PROXY_VARIABLES):
        return True
    from huggingface_hub import constants

    parts = urlsplit(constants.ENDPOINT)
    host = parts.hostname or "huggingface.co"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    answer: list[bool] = []

    def connect() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                answer.append(True)
        except OSError:
            answer.append(False)

    probe = threading.Thread(target=connect, name="hub-probe", daemon=True)
    probe.start()
    probe.join(timeout + 0.5)
    return bool(answer and answer[0])


def hub_offline_requested() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def in_cache(ref: str) -> bool:
    """The model's config is in the local Hugging Face cache (then it loads without the network)."""
    from huggingface_hub import try_to_load_from_cache

    try:
        return isinstance(try_to_load_from_cache(ref, "config.json"), str)
    except ValueError:  # not a valid repository id
        return False


def _offline_message(ref: str) -> str:
    from huggingface_hub import constants

    return (
        f"cannot load model {ref!r}: it is not in the local Hugging Face cache ({constants.HF_HUB_CACHE}) and"
        f" the hub ({constants.ENDPOINT}) cannot be reached. Fetch it once where there is network:"
        f" `alttext model fetch {ref}` (then copy that cache folder here), or point --model at a local"
        " folder saved with save_pretrained."
    )


def fetch_model(ref: str) -> str:
    """Download ``ref`` from the hub into the local cache (PyTorch weights, configs, tokenizer files), so
    that it loads offline from then on; the snapshot folder. Raises ModelLoadError with one line."""
    _refuse_remote(ref, "there is nothing to fetch")
    if looks_like_path(ref):
        raise ModelLoadError(f"{ref!r} is a local folder: there is nothing to fetch")
    if not hub_offline_requested() and not hub_reachable():
        raise ModelLoadError(f"cannot fetch model {ref!r}: the hub ({_endpoint()}) cannot be reached from here")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, RepositoryNotFoundError

    try:
        return str(snapshot_download(ref, ignore_patterns=OTHER_FRAMEWORKS))
    except RepositoryNotFoundError as exc:
        raise ModelLoadError(f"cannot fetch model {ref!r}: no such model on the hub (or it needs a login)") from exc
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError, ValueError) as exc:
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelLoadError(f"cannot fetch model {ref!r}: {first_line}") from exc


def _refuse_remote(ref: str, why: str) -> None:
    """``openai:NAME`` lives behind ``caption_endpoint``: no hub, cache or offline check applies to it."""
    from alttext.captioning.remote.captioner import is_remote_model

    if is_remote_model(ref):
        raise ModelLoadError(f"{ref!r} is a model behind caption_endpoint: {why}")


def _endpoint() -> str:
    from huggingface_hub import constants

    return str(constants.ENDPOINT)


def load_model(ref: str, device: str = "auto", precision: str = "auto") -> LoadedModel:
    """Load model, image processor and tokenizer for ``ref``; raise ModelLoadError with one clear line.
    The weights load in ``precision`` (``auto``: half precision on a GPU, fp32 on CPU; see ``precision``).

    A hub id loads from the local cache without asking the hub when the hub can't be reached (or
    ``HF_HUB_OFFLINE=1``); an id that isn't cached then fails at once, saying how to fetch it."""
    _refuse_remote(ref, "it is not loaded here (alttext.captioning.factory builds its RemoteCaptioner)")
    local = looks_like_path(ref)
    source = str(Path(ref).expanduser().resolve()) if local else ref
    offline = False
    if local:
        folder = Path(source)
        if not folder.is_dir():
            raise ModelLoadError(f"model folder {ref!r} does not exist")
        if not (folder / "config.json").is_file():
            raise ModelLoadError(f"{ref!r} is not a model folder (no config.json; save it with save_pretrained)")
    elif hub_offline_requested() or not hub_reachable():
        if not in_cache(ref):
            raise ModelLoadError(_offline_message(ref))
        offline = True
    chosen = pick_device(device)  # before the weights load: a device that isn't there is said at once
    from alttext.captioning.precision import resolve_precision, torch_dtype

    dtype_name = resolve_precision(precision, chosen)
    import transformers  # after the checks above: a model that can't be loaded is said in a moment
    from transformers import AutoConfig, AutoImageProcessor, AutoModelForImageTextToText, AutoTokenizer

    from alttext.captioning.families import CHAT_VLM, ENCODER_DECODER, UnsupportedModel, detect_family
    from alttext.captioning.processors import load_processor

    transformers.logging.set_verbosity_error()  # the torchvision fallback notice is not for our users
    transformers.logging.disable_progress_bar()  # "Loading weights" bars would clutter every command
    processor: Any = None
    image_processor: Any
    tokenizer: Any
    try:
        config = AutoConfig.from_pretrained(source, local_files_only=offline)
        family = detect_family(config)
        # Always explicit: transformers' default ("auto") would take the checkpoint's dtype, bf16 on CPU too.
        model = AutoModelForImageTextToText.from_pretrained(source, local_files_only=offline,
                                                            dtype=torch_dtype(dtype_name))
        if family == ENCODER_DECODER:
            image_processor = AutoImageProcessor.from_pretrained(source, local_files_only=offline)
            tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=offline)
        else:  # prompt-driven: the processor pairs images with text
            processor = load_processor(source, config, local_files_only=offline)
            image_processor = getattr(processor, "image_processor", None)
            tokenizer = getattr(processor, "tokenizer", None)
            if image_processor is None or tokenizer is None:
                raise UnsupportedModel(f"its processor ({type(processor).__name__}) has no image processor and"
                                       f" tokenizer; {family} models need both")
            if family == CHAT_VLM and not getattr(processor, "chat_template", None):
                raise UnsupportedModel("it is a chat vision-language model, but its processor has no chat template"
                                       " to put alttext's prompt in")
    except UnsupportedModel as exc:
        raise ModelLoadError(f"cannot caption with {ref!r}: {exc}") from exc
    except OSError as exc:
        text = str(exc)
        if not local and (
            "connect" in text.lower() or "offline" in text.lower() or "cached" in text.lower()
        ):
            raise ModelLoadError(_offline_message(ref)) from exc
        first_line = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
        raise ModelLoadError(f"cannot load model {ref!r}: {first_line}") from exc
    except (ValueError, ImportError, TypeError, AttributeError) as exc:
        # e.g. a config that is not an image-to-text architecture, or a processor that needs a missing library
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelLoadError(f"{ref!r} is not an image-to-text model this version supports: {first_line}") from exc

    # transformers wraps ``to`` with functools.wraps(Module.to), which hides the method from type checkers.
    cast("torch.nn.Module", model).to(chosen)
    model.eval()
    revision = getattr(model.config, "_commit_hash", None)
    return LoadedModel(model, image_processor, tokenizer, source if local else ref, revision, chosen, family, processor,
                       dtype_name)
