"""alttext: accessible alt text for photo libraries, from local vision models."""

__version__ = "0.1.0"
