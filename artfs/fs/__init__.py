"""The FUSE mount: artifacts as directories, staging as writable ones (pyfuse3 on trio)."""
