"""The edge sync agent: the outbox to the cloud (docs/sync.md is the contract, docs/sync_agent.md the agent).

It runs in a child process of its own (the bulk side of the process model),
so nothing it does (SQLite reads, zstd, HTTP, a cloud that is away) can
delay an alarm. Modules, one job each: ``reader`` (outbox rows -> batch
chunks), ``lanes`` (the priority lanes' tables, schedules and caps),
``bandwidth`` (a lane's token bucket), ``client`` (signed HTTP and what each
answer means), ``breaker`` (the circuit breaker), ``backlog`` (what each lane
still has to send), ``state`` (the agent's report), ``agent`` (drain,
heartbeats, counts), ``process`` (the agent's process) and ``supervisor``
(the daemon's side of it).
"""
