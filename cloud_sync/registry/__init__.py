"""Who may talk to the cloud: the fleet's devices (profiles, keys, heartbeats, seen nonces) and its admins
(accounts, sessions, API tokens, sign-in attempts).

Every piece of state lives in the database (tables in :mod:`.tables`), none in
the process, so any number of service replicas on one PostgreSQL answer the
same devices and admins alike. Methods block (SQL, password hashing): the HTTP
service calls them in a thread.
"""
