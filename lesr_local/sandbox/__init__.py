"""The sandbox: everything between LLM-written code and the rest of the machine.

- `namespaces`: new user, mount, network and IPC namespaces entered first thing in a worker process
  (private /tmp and /run, no network interfaces, private SysV IPC);
- `limits` + `seccomp`: rlimits, dropped capabilities, the seccomp filter (`apply_limits`);
- `restricted`: the AST policy again, then exec in a stripped namespace (`load_candidate`);
- `protocol`: the one framed JSON + bytes protocol, validated against a schema on every read;
- `supervisor`: the parent side: spawn a worker through `entry`, watch it, receive files at paths
  the parent chose;
- `tensorfile`: checkpoints and policies as data only (the safetensors layout);
- `zygote` + `forkserver`: training workers forked from a process that imported torch once (the
  server side and the parent's side); each child still enters `entry.become_worker` itself.

This package must import nothing heavy at its top: `entry` runs before numpy or torch load.
"""
