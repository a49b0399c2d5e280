"""The service as roles on one machine: one writer process, several reader
processes, and the supervisor that starts, watches and stops them.

    supervisor   binds the public socket, starts the writer, then the
                 readers; restarts a role that dies; stops all on SIGTERM
    writer       the only process that writes the store: ingest,
                 clustering, maintenance, presentation, snapshots; serves
                 the full app on a loopback port only the readers use
    reader       serves every read from the store and a memory-mapped
                 replica of the index, embeds text queries with its own
                 model, and passes each write to the writer

See docs/ARCHITECTURE.md ("Roles") for how a write flows and how a reader
catches up.
"""
