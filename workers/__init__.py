"""Worker entry points, one per task queue: ``general`` (orchestration and fast activities) and
``sftp`` (slow, blocking file I/O with bounded concurrency)."""
