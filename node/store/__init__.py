"""SQLite, the node's system of record: the Store and its migrations."""

from node.store.store import Store

__all__ = ["Store"]
