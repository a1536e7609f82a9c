"""Every MongoDB client of ours gives up on a server that stopped answering (no wait forever)."""

from __future__ import annotations

from adapters import mongo
from core.settings import MongoSettings


def test_clients_have_a_socket_timeout_and_the_purge_a_longer_one() -> None:
    s = MongoSettings()
    hot = mongo.sync_client(s, connect=False)
    purge = mongo.sync_client(s, connect=False, **mongo.PURGE_OPTIONS)
    aio = mongo.client(s, connect=False)
    try:
        assert hot.options.pool_options.socket_timeout == 30
        assert aio.options.pool_options.socket_timeout == 30
        assert purge.options.pool_options.socket_timeout == 600
        assert hot.options.server_selection_timeout == 5
    finally:
        hot.close()
        purge.close()
