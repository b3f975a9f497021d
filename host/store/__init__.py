"""Where every SQL statement and every transaction of the host tools lives: SQLite by default (a file),
PostgreSQL through a URL.

The operations database (Store) holds the harvested readings, the customer register, the vending
console's records and what the exports remember; the meter registry (registry.RegistryStore) is a
database of its own. Other modules ask them by name, in the domain's words (store.charges_between(...),
store.sell_once(...)), and never write SQL, commit or open a transaction themselves
(tests/host/test_store_owns_sql.py holds them to it). One class per domain's tables, mixed into
Store, keeps each module small while callers keep one object.

    database.py    the connection, the dialects, transactions and locks
    schema.py      the operations database's versioned migrations
    harvests.py    harvests, readings, profiles, registers, events, dead letters
    headend.py     the distributed head-end's runs, shards and schedules
    notifications.py  events meters push, the last invocation counter accepted per meter, refused frames
    customers.py   the customer register and its charges
    console.py     the vending console: accounts, sessions, logins, customers, invoices, sales
    exports.py     what the SEC feed and the SMEC export remember
    network.py     the information platform's network: regions, comunas, substations, feeders, transformers,
                   poles, spans, equipment, VNR codes, demands
    supplies.py    the information platform's customers: supplies, bills, EG contracts, remanentes, documents
    portal_users.py  the information platform's accounts, sessions and spent robot-check tokens
    registry.py    the meter registry and its tokens: sales under a lock
"""

from opsm.host.store import schema
from opsm.host.store.console import ConsoleTables
from opsm.host.store.customers import CustomerTables
from opsm.host.store.database import AlreadyStored, Database, StoreError
from opsm.host.store.exports import ExportTables
from opsm.host.store.harvests import HarvestTables
from opsm.host.store.headend import HeadendTables
from opsm.host.store.network import NetworkTables
from opsm.host.store.notifications import NotificationTables
from opsm.host.store.portal_users import PortalUserTables
from opsm.host.store.schema import MIGRATIONS
from opsm.host.store.supplies import SupplyTables

__all__ = ["AlreadyStored", "MIGRATIONS", "Store", "StoreError"]


class Store(HarvestTables, HeadendTables, CustomerTables, ConsoleTables, ExportTables, NetworkTables, SupplyTables,
            PortalUserTables, NotificationTables, Database):
    """The operations database, migrated to the current schema when opened (Store.open(url))."""

    def __init__(self, connection, dialect: str):
        super().__init__(connection, dialect)
        schema.migrate(self)

    @property
    def version(self) -> int:
        return schema.version(self)
