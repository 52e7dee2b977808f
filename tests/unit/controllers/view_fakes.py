"""A cache without etcd: a view kept by the real updater, fed puts and deletes by hand."""

from __future__ import annotations

from google.protobuf.message import Message

from common.etcd_store import KeyValue
from common.keys import Keys
from proxy.known_records import KnownRecords
from proxy.view import FedView, ViewUpdater

KEYS = Keys("/fed")


class UpdatedView:
    """What readers of a cache use (its `view`), changed as the watch would change it."""

    def __init__(self) -> None:
        self.updater = ViewUpdater(KEYS, KnownRecords())

    @property
    def view(self) -> FedView:
        return self.updater.view

    def put(self, key: str, record: Message) -> None:
        self.updater.apply(KeyValue(key, record.SerializeToString(), 1, 1, 1, 0), deleted=False)

    def delete(self, key: str) -> None:
        self.updater.apply(KeyValue(key, b"", 1, 1, 1, 0), deleted=True)
