"""SQLite, the node's system of record: the Store, its transactions and migrations."""

from node.store.migrations import Migrations
from node.store.store import Store
from node.store.tx import Tx

__all__ = ["Store", "Tx", "Migrations"]
