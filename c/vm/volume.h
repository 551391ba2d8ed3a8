// The guest's file systems (c/vm/volume.c; the host mounts the app bundle and
// the data volume through c/abi/exports.h).
#pragma once

// The empty, read-only root under /app and /data: mounted by pg_init.
int pg_mount_root(void);  // 1, or 0 with the reason on stderr
