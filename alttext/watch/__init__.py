"""The folder-watching daemon (``alttext watch``): events as hints, reconcile scans as the truth.

- :mod:`.daemon`: the supervisor (main thread): signals, observer health, systemd notifications.
- :mod:`.observe`: watchdog events -> hints; inotify overflow and watch-limit detection.
- :mod:`.loop`: the writer thread: scans, the settle check, batches through the model. Not the only
  writer: every thread and process writes in short transactions of its own (docs/architecture.md §9).
- :mod:`.settle`: when a file is complete enough to read.
- :mod:`.background`: threads for the work after captioning (sentence vectors, ``--variants``).
- :mod:`.notify`: ``sd_notify`` without libsystemd.

Elsewhere: failed files retried with backoff, then parked (the ``jobs`` table), in
:mod:`alttext.index.file_retries`; ``record_own_write(index, path, stat, before=...)``, for code that writes
into photos (metadata embedding) so its own writes don't look like new photos, in
:mod:`alttext.index.own_writes`.

What follows indexing: ``WatchDaemon(..., after_index=...)`` takes the library's one pipeline
(:mod:`alttext.library.after_index`, the :class:`.loop.AfterIndex` protocol): started and stopped with
the daemon, and called in the writer thread after each round that indexed files. Write-back runs there
(a writer must call ``record_own_write`` right after it replaces a file); vectors and variants run in
:mod:`.background` threads.
"""
