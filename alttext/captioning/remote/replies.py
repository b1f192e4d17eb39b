"""What a chat model's reply is worth as alt text or a description: the text, or one line saying why it
is none (an empty reply, a refusal, a reply withheld by a content filter).

A chat model answers in prose, not a caption: it may label its answer ("Alt text: ..."), wrap it in
quotes or Markdown, or decline ("I'm sorry, I can't help with that"). A refusal stored as alt text would
be read out to a screen-reader user as if it described the photo, so it is an error for that image
instead (the file stays in the queue and is tried again later, docs/architecture.md §14).
"""

from __future__ import annotations

import re

from alttext.chat import Completion
from alttext.text_safety import clean_text

# A first-person apology or inability at the start: alt text describes a picture and never begins so.
_REFUSAL = re.compile(
    r"^\W*(?:i['’]?m\s+sorry|i\s+am\s+sorry|sorry,?\s+(?:but\s+)?i\b|i\s+apologi[sz]e|"
    r"i\s+(?:can\s*not|can['’]?t|am\s+(?:not\s+able|unable)|['’]?m\s+(?:not\s+able|unable)|won['’]?t|will\s+not)\b|"
    r"as\s+an\s+ai\b|unfortunately,?\s+i\b)",
    re.IGNORECASE,
)
# "Alt text:", "**Caption:**", "Description -" before the answer itself.
_LABEL = re.compile(
    r"^\W*(?:alt(?:ernative)?[\s-]*text|caption|description|image\s+description)\s*\**\s*[:\-–—]\s*\**\s*",
    re.IGNORECASE,
)
_MARKDOWN = re.compile(r"(\*\*|__|`+|^#+\s*)", re.MULTILINE)
_QUOTED_CHARS = 120  # of a refusal, in the error


class ReplyUnusable(Exception):
    """The reply holds no alt text or description; the message is one line for the image's error."""


def reply_text(completion: Completion) -> str:
    """The answer of ``completion`` as plain text (label, Markdown and whitespace removed), or
    ``ReplyUnusable``. Alt-text rules (``alt_text.to_alt_text``) are applied by the caller."""
    if completion.finish_reason == "content_filter":
        raise ReplyUnusable("the endpoint's content filter withheld the reply")
    if completion.refusal:
        raise ReplyUnusable(f"the model declined: {_quoted(completion.refusal)}")
    text = clean_text(_MARKDOWN.sub("", completion.text or ""))
    text = " ".join(text.split())
    text = _LABEL.sub("", text, count=1).strip()
    if not text:
        raise ReplyUnusable("the model gave an empty reply")
    if _REFUSAL.match(text):
        raise ReplyUnusable(f"the model declined: {_quoted(text)}")
    return text


def _quoted(text: str) -> str:
    line = " ".join(text.split())
    return repr(line if len(line) <= _QUOTED_CHARS else line[:_QUOTED_CHARS] + "…")
