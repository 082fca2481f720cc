"""How `tidings api --api-processes N` hands its children the socket it bound and its
own pid (a child whose parent is gone stops): hidden flags of `tidings api` and
`tidings worker`, kept apart so that parsing a command line loads no server code."""

LISTEN_FD_FLAG, PARENT_PID_FLAG = "--listen-fd", "--parent-pid"
