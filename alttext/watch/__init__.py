"""The folder-watching daemon (``alttext watch``): events as hints, reconcile scans as the truth.

- :mod:`.daemon`: the supervisor (main thread): signals, observer health, systemd notifications.
- :mod:`.observe`: watchdog events -> hints; inotify overflow and watch-limit detection.
- :mod:`.worker`: the one writer thread: scans, the settle check, batches through the model.
- :mod:`.settle`: when a file is complete enough to read.
- :mod:`.retry`: failed files retried with backoff, then parked (the ``jobs`` table).
- :mod:`.own_writes`: ``record_own_write(index, path, stat, before=...)``, for code that writes into
  photos (metadata embedding) so its own writes don't look like new photos.
- :mod:`.variants`: ``--variants`` in a background thread.
- :mod:`.notify`: ``sd_notify`` without libsystemd.

Hook for embedding: ``WatchDaemon(..., on_indexed=callable)`` calls ``callable(index, file_id, path)``
in the writer thread after each file is indexed; a writer must call ``record_own_write`` right after
it replaces the file.
"""
