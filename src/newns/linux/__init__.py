"""The only part of newns that talks to the kernel.

libc holds the bindings; world answers questions about the caller's world
and changes nothing; door carries out a plan's steps (the one way mounts
are made); workdirs keeps overlay work directories; namespaces enters new
namespaces; joined holds and joins another process's (--attach); processes
reads other processes (for --ns and --attach); launch starts, supervises and
execs the command.
"""
