"""The words alttext's data and options are made of, defined once for every layer and face.

Kept free of imports so a face can build its options (``--status``, ``--format``, ``--quantize``)
without loading the layers that give the words their meaning.
"""

from __future__ import annotations

# Where a caption came from, and whether a person reviewed it (docs/architecture.md §3: human text wins).
SOURCE_MODEL, SOURCE_HUMAN, SOURCE_METADATA = "model", "human", "metadata"
STATUS_GENERATED, STATUS_EDITED, STATUS_APPROVED = "generated", "edited", "approved"
REVIEW_STATUSES = (STATUS_GENERATED, STATUS_EDITED, STATUS_APPROVED)

# A file's state in the index ("pending" rows are the durable work queue of a scan), and the ``jobs.kind``
# of the durable work that belongs to a file row (``jobs.target_id`` is the file's id): a failed file's
# retry (index/file_retries.py) and a write-back held back after it failed or was skipped (index/writeback.py).
PENDING, INDEXED, FAILED, MISSING = "pending", "indexed", "failed", "missing"
FILE_STATES = (PENDING, INDEXED, FAILED, MISSING)
RETRY_FILE_JOB, EMBED_JOB = "retry-file", "embed"
FILE_JOB_KINDS = (RETRY_FILE_JOB, EMBED_JOB)

# A caption worker's state (``workers.state``, docs/architecture.md §16): "active" while its lease is renewed;
# "stopped" after a clean exit; "lost" once its lease ran out and another process released its files (the
# worker registers anew if it comes back).
WORKER_ACTIVE, WORKER_STOPPED, WORKER_LOST = "active", "stopped", "lost"

# Images per model call where neither the settings nor the model say otherwise (engine.default_batch_size).
DEFAULT_BATCH_SIZE = 8
QUANTIZE_CHOICES = ("none", "int8")  # int8: dynamic quantization of the linear layers, CPU only
# The model's weights and activations: auto is bf16 on CUDA where supported (else fp16), fp16 on MPS, fp32 on CPU.
PRECISION_CHOICES = ("auto", "fp32", "bf16", "fp16")
# What write-back may write into a photo; "extdescr" carries the long description, when there is one.
EMBED_FIELDS = ("alt", "description", "exif", "iptc", "extdescr")
EXPORT_FORMATS = ("csv", "json", "jsonl", "html", "md")

# Around the matched words in a search hit's ``highlighted`` text (control characters no caption holds).
HIGHLIGHT_START, HIGHLIGHT_END = "\x02", "\x03"
