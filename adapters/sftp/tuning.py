"""The download and upload knobs, in one place. Modules read them as ``tuning.NAME`` at call
time, so a benchmark or a test can turn one for a run (see the package docstring, Throughput)."""

READ_REQUEST_SIZE = 255 * 1024  # per SFTP read: OpenSSH's sftp-server cap (smaller: adapts)
READ_WINDOW = 64  # reads in flight at once (~16 MiB): keeps the server busy, bounds memory
READ_REFILL = 8  # send new reads once this many slots are free, in one channel packet
RECEIVE_MAX = 4 * 1024 * 1024  # most bytes taken off the channel buffer at once
RECEIVE_SOCKET = 256 * 1024  # most bytes one socket read takes
WRITE_COALESCE = 4 * 1024 * 1024  # local writes gather this much (one pwritev, one progress)
WRITE_QUEUE = 8  # writes the file may lag behind the network (32 MiB), bounds memory
SYNC_EVERY = 64 * 1024 * 1024  # flush to disk as the download goes, so the final fsync is short
WRITE_REQUEST_SIZE = 128 * 1024
CHANNEL_WINDOW = 64 * 1024 * 1024
CHANNEL_MAX_PACKET = 256 * 1024
PREFERRED_CIPHERS: tuple[str, ...] = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")
DOWNLOAD_STREAMS = 1  # SFTP connections a large download is spread over (see Throughput)
PARALLEL_MIN_BYTES = 32 * 1024 * 1024  # below this (left to fetch), one stream
PARALLEL_CHUNK_BYTES = 8 * 1024 * 1024  # unit handed to a stream, written whole and in order
