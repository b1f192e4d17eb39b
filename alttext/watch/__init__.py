"""The folder-watching daemon: events as hints, reconcile scans as the truth."""
