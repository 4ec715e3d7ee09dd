"""Lineage: runs, the versions they read and wrote, and the graph they form."""
