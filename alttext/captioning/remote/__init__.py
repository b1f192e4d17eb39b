"""A captioner on any OpenAI-compatible vision endpoint (``--model openai:NAME``; docs/architecture.md §14).

- ``image``: the picture as it is sent (≤ 1024 px JPEG in a data URL);
- ``replies``: a reply's text, or why it is none (empty, refused, filtered);
- ``breaker``: stop asking an endpoint that can't be reached, for a while;
- ``captioner``: ``RemoteCaptioner``, the ``CaptionModel`` that sends images concurrently, each within
  one deadline.
"""

from alttext.captioning.remote.captioner import REMOTE_PREFIX, RemoteCaptioner, is_remote_model, public_endpoint

__all__ = ["REMOTE_PREFIX", "RemoteCaptioner", "is_remote_model", "public_endpoint"]
