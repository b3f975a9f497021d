"""The operations database's schema: versioned migrations bring any database to the current one at open.

A released version keeps its SQL as it ran (it is history); a change is a new version.
"""

# (version, statements); {pk} is the dialect's auto-numbered primary key.
MIGRATIONS = (
    (1, (
        """CREATE TABLE meters (device_id TEXT PRIMARY KEY, serial TEXT NOT NULL, host TEXT NOT NULL,
           port INTEGER NOT NULL, protocol TEXT NOT NULL, timezone TEXT NOT NULL, last_read BIGINT)""",
        "CREATE TABLE harvests (id {pk}, started_at BIGINT NOT NULL, finished_at BIGINT, meters INTEGER, "
        "failed INTEGER)",
        """CREATE TABLE readings (harvest_id BIGINT NOT NULL, device_id TEXT NOT NULL, read_at BIGINT NOT NULL,
           ok INTEGER NOT NULL, error TEXT, clock_drift_s BIGINT, attempts INTEGER NOT NULL, new_rows INTEGER,
           PRIMARY KEY (harvest_id, device_id))""",
        """CREATE TABLE register_values (device_id TEXT NOT NULL, read_at BIGINT NOT NULL, obis TEXT NOT NULL,
           value DOUBLE PRECISION, text TEXT, PRIMARY KEY (device_id, read_at, obis))""",
        """CREATE TABLE profile_values (device_id TEXT NOT NULL, profile TEXT NOT NULL, captured_at BIGINT NOT NULL,
           obis TEXT NOT NULL, value DOUBLE PRECISION NOT NULL, PRIMARY KEY (device_id, profile, captured_at, obis))""",
        """CREATE TABLE events (device_id TEXT NOT NULL, occurred_at BIGINT NOT NULL, code INTEGER NOT NULL,
           PRIMARY KEY (device_id, occurred_at, code))""",
    )),
    (2, (
        # the newest credit and relay state per meter, what a head-end's dashboard asks first
        """CREATE VIEW meter_status AS
           SELECT r.device_id, r.read_at,
                  MAX(CASE WHEN r.obis = '0.0.19.10.0.255' THEN r.value END) AS credit_wh,
                  MAX(CASE WHEN r.obis = '0.0.96.3.10.255' THEN r.value END) AS relay_closed
           FROM register_values r
           JOIN (SELECT device_id, MAX(read_at) AS read_at FROM register_values GROUP BY device_id) latest
             ON latest.device_id = r.device_id AND latest.read_at = r.read_at
           GROUP BY r.device_id, r.read_at""",
    )),
    (3, (
        # who is supplied through which meter: the customer register (host/customers.py)
        """CREATE TABLE customers (customer_id TEXT PRIMARY KEY, name TEXT NOT NULL, device_id TEXT, email TEXT,
           phone TEXT, address TEXT, comuna TEXT, provincia TEXT, region TEXT, building TEXT, unit TEXT,
           client_number TEXT, distributor TEXT, tariff TEXT, connected_kw DOUBLE PRECISION,
           smart INTEGER NOT NULL, shared INTEGER NOT NULL, bill_access INTEGER NOT NULL, updated_at BIGINT)""",
        # what each customer was charged (a billing system's export, or the vending console's sales);
        # money in cents of the currency, never in floating point
        """CREATE TABLE charges (customer_id TEXT NOT NULL, document TEXT NOT NULL, billed_at BIGINT NOT NULL,
           amount_cents BIGINT NOT NULL, currency TEXT NOT NULL, kwh DOUBLE PRECISION,
           PRIMARY KEY (customer_id, document))""",
        # the maximum and sum of every complete month of an AMM channel, as its mapping stood: Direct@mm's
        # checks compare a month with the six before it, and this spares reading seven months each time
        """CREATE TABLE smec_months (channel INTEGER NOT NULL, month TEXT NOT NULL, device_id TEXT NOT NULL,
           quantity TEXT NOT NULL, multiplier DOUBLE PRECISION NOT NULL, maximum DOUBLE PRECISION NOT NULL,
           total DOUBLE PRECISION NOT NULL, PRIMARY KEY (channel, month))""",
    )),
    (4, (
        # the SEC feed (host/sec.py): each batch delivered, and the digest of every record SEC holds,
        # against which the next delta is computed
        """CREATE TABLE sec_batches (id BIGINT PRIMARY KEY, kind TEXT NOT NULL, as_of TEXT NOT NULL,
           distributor TEXT NOT NULL, created_at BIGINT NOT NULL, inserts INTEGER NOT NULL, updates INTEGER NOT NULL,
           deletes INTEGER NOT NULL, destination TEXT NOT NULL)""",
        "CREATE TABLE sec_records (record_key TEXT PRIMARY KEY, digest TEXT NOT NULL, batch BIGINT NOT NULL)",
    )),
    (5, (
        # the vending console (host/console/): its accounts, settings (product, licence, seller), invoices;
        # a customer's meter for tokens and the account that registered the customer
        """CREATE TABLE console_users (id {pk}, email TEXT NOT NULL UNIQUE, name TEXT NOT NULL,
           role TEXT NOT NULL CHECK (role IN ('admin', 'vendor')), password_hash TEXT NOT NULL,
           failed_logins INTEGER NOT NULL DEFAULT 0, locked_until BIGINT NOT NULL DEFAULT 0,
           created_at BIGINT NOT NULL)""",
        "CREATE TABLE console_settings (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
        """CREATE TABLE invoices (number BIGINT PRIMARY KEY, customer_id TEXT NOT NULL, vendor_id BIGINT NOT NULL,
           issued_at BIGINT NOT NULL, description TEXT NOT NULL, price_cents BIGINT NOT NULL, vat_bp INTEGER NOT NULL,
           currency TEXT NOT NULL, total_cents BIGINT NOT NULL, vat_cents BIGINT NOT NULL,
           kwh_tenths BIGINT NOT NULL, meter_pan TEXT NOT NULL, token TEXT NOT NULL)""",
        "CREATE INDEX invoices_by_date ON invoices (issued_at)",
        "ALTER TABLE customers ADD COLUMN meter_pan TEXT",
        "ALTER TABLE customers ADD COLUMN owner_id BIGINT",
    )),
    (6, (
        # the console's sessions: the SHA-256 of the cookie's random id, so the table does not hold live cookies
        """CREATE TABLE console_sessions (id TEXT PRIMARY KEY, user_id BIGINT NOT NULL, csrf TEXT NOT NULL,
           created_at BIGINT NOT NULL, seen_at BIGINT NOT NULL)""",
        "CREATE INDEX console_sessions_by_user ON console_sessions (user_id)",
        # failed logins per account name, client address or known browser; times in milliseconds
        """CREATE TABLE console_throttle (name TEXT PRIMARY KEY, failures INTEGER NOT NULL,
           last_at BIGINT NOT NULL)""",
        # an account an administrator locked (failed logins no longer lock one: console_throttle slows them)
        "ALTER TABLE console_users ADD COLUMN locked INTEGER NOT NULL DEFAULT 0",
        # the recharge form's one-time key: a form sent twice finds the first sale (NULL for older invoices)
        "ALTER TABLE invoices ADD COLUMN sale_key TEXT",
        "CREATE UNIQUE INDEX invoices_by_sale_key ON invoices (sale_key)",
        # whom a vendor has sold to (who sees which customers)
        "CREATE INDEX invoices_by_vendor ON invoices (vendor_id, customer_id)",
    )),
    (7, (
        # the distributor's information platform (SEC, Anexo 1; host/store/network.py): its network by region
        # and comuna (CUT codes). A location is x, y, datum and zone as the distributor gave them, and lon, lat
        # in WGS84 for maps; a geometry is GeoJSON in WGS84
        "CREATE TABLE regions (cut TEXT PRIMARY KEY, name TEXT NOT NULL)",
        """CREATE TABLE comunas (cut TEXT PRIMARY KEY, name TEXT NOT NULL,
           region TEXT NOT NULL REFERENCES regions (cut))""",
        "CREATE INDEX comunas_by_region ON comunas (region)",
        # power_transformers: the AT/MT transformers' names, a JSON list
        """CREATE TABLE substations (id TEXT PRIMARY KEY, name TEXT NOT NULL,
           comuna TEXT NOT NULL REFERENCES comunas (cut), power_transformers TEXT NOT NULL, x DOUBLE PRECISION,
           y DOUBLE PRECISION, datum TEXT, zone TEXT, lon DOUBLE PRECISION NOT NULL, lat DOUBLE PRECISION NOT NULL)""",
        "CREATE INDEX substations_by_comuna ON substations (comuna)",
        # what the VNR (valor nuevo de reemplazo) of an installation is made of, in whole pesos
        """CREATE TABLE vnr_codes (code TEXT PRIMARY KEY, description TEXT, recargos_1 BIGINT NOT NULL,
           montaje BIGINT NOT NULL, stotal_1 BIGINT NOT NULL, ing_gg BIGINT NOT NULL, stotal_2 BIGINT NOT NULL,
           int_int BIGINT NOT NULL, total BIGINT NOT NULL)""",
        # a sub-alimentador is fed from another distributor's network: its owner and purchase node
        """CREATE TABLE feeders (id TEXT PRIMARY KEY, name TEXT NOT NULL,
           substation TEXT NOT NULL REFERENCES substations (id),
           kind TEXT NOT NULL CHECK (kind IN ('alimentador', 'sub-alimentador')), owner TEXT, purchase_node TEXT,
           short_circuit_kva DOUBLE PRECISION, capacity_kva DOUBLE PRECISION, geometry TEXT)""",
        "CREATE INDEX feeders_by_substation ON feeders (substation)",
        """CREATE TABLE poles (plate TEXT PRIMARY KEY, feeder TEXT NOT NULL REFERENCES feeders (id),
           x DOUBLE PRECISION, y DOUBLE PRECISION, datum TEXT, zone TEXT, lon DOUBLE PRECISION NOT NULL,
           lat DOUBLE PRECISION NOT NULL, medium_voltage TEXT, low_voltage TEXT, vnr_code TEXT)""",
        "CREATE INDEX poles_by_feeder ON poles (feeder)",
        # pole: the plate of the pole it stands on (its "número"); monitored: incorporated into the SMMC
        """CREATE TABLE transformers (id TEXT PRIMARY KEY, name TEXT NOT NULL,
           feeder TEXT NOT NULL REFERENCES feeders (id), capacity_kva DOUBLE PRECISION NOT NULL, connection TEXT,
           voltage TEXT, pole TEXT, kind TEXT NOT NULL CHECK (kind IN ('monofásico', 'bifásico', 'trifásico')),
           phases TEXT NOT NULL CHECK (phases IN ('RST', 'RS', 'RT', 'ST', 'R', 'S', 'T')), x DOUBLE PRECISION,
           y DOUBLE PRECISION, datum TEXT, zone TEXT, lon DOUBLE PRECISION NOT NULL, lat DOUBLE PRECISION NOT NULL,
           vnr_code TEXT, monitored INTEGER NOT NULL)""",
        "CREATE INDEX transformers_by_feeder ON transformers (feeder)",
        "CREATE INDEX transformers_by_pole ON transformers (pole)",
        # origin and destination: a pole's plate or another node's name
        """CREATE TABLE spans (id TEXT PRIMARY KEY, feeder TEXT NOT NULL REFERENCES feeders (id), origin TEXT NOT NULL,
           destination TEXT NOT NULL, length_m DOUBLE PRECISION NOT NULL, material TEXT, insulation TEXT,
           vnr_code TEXT, capacity_a DOUBLE PRECISION, phases INTEGER, geometry TEXT)""",
        "CREATE INDEX spans_by_feeder ON spans (feeder)",
        """CREATE TABLE equipment (id TEXT PRIMARY KEY, feeder TEXT NOT NULL REFERENCES feeders (id),
           kind TEXT NOT NULL, capacity DOUBLE PRECISION, capacity_unit TEXT CHECK (capacity_unit IN ('A', 'kVA')),
           connection TEXT, operating_mode TEXT, voltage_setpoints TEXT, ratio TEXT, vnr_code TEXT,
           x DOUBLE PRECISION, y DOUBLE PRECISION, datum TEXT, zone TEXT, lon DOUBLE PRECISION,
           lat DOUBLE PRECISION)""",
        "CREATE INDEX equipment_by_feeder ON equipment (feeder)",
        # month: YYYY-MM, in normal operation (load transfers left out)
        """CREATE TABLE feeder_demands (feeder TEXT NOT NULL REFERENCES feeders (id), month TEXT NOT NULL,
           max_kw DOUBLE PRECISION NOT NULL, min_kw DOUBLE PRECISION NOT NULL, PRIMARY KEY (feeder, month))""",
        """CREATE TABLE transformer_demands (transformer TEXT NOT NULL REFERENCES transformers (id),
           month TEXT NOT NULL, max_kw DOUBLE PRECISION NOT NULL, min_kw DOUBLE PRECISION NOT NULL,
           PRIMARY KEY (transformer, month))""",
        # each customer's supply (host/store/supplies.py): the register's connected_kw is the capacidad del
        # empalme; generation: the customer has equipment of distributed generation (EG)
        """CREATE TABLE supplies (customer_id TEXT PRIMARY KEY REFERENCES customers (customer_id),
           transformer TEXT REFERENCES transformers (id), billing_day INTEGER, generation INTEGER NOT NULL)""",
        "CREATE INDEX supplies_by_transformer ON supplies (transformer)",
        # boletas or facturas of supply, and the annexes of injection of an EG; pdf: the document, or NULL
        """CREATE TABLE bills (customer_id TEXT NOT NULL REFERENCES customers (customer_id), number TEXT NOT NULL,
           kind TEXT NOT NULL CHECK (kind IN ('suministro', 'inyeccion')), issued_on TEXT NOT NULL,
           period TEXT NOT NULL, kwh_consumed DOUBLE PRECISION, kwh_injected DOUBLE PRECISION,
           amount_clp BIGINT NOT NULL, pdf BYTEA, PRIMARY KEY (customer_id, number))""",
        "CREATE INDEX bills_by_period ON bills (customer_id, kind, period)",
        # the EG's connection contract: how and when its remanentes are liquidated, where it is
        """CREATE TABLE generation_contracts (customer_id TEXT PRIMARY KEY REFERENCES customers (customer_id),
           liquidation_form TEXT NOT NULL, liquidation_date TEXT, contract_date TEXT NOT NULL,
           installed_kw DOUBLE PRECISION NOT NULL, x DOUBLE PRECISION, y DOUBLE PRECISION, datum TEXT, zone TEXT,
           lon DOUBLE PRECISION, lat DOUBLE PRECISION)""",
        """CREATE TABLE remanentes (customer_id TEXT NOT NULL REFERENCES customers (customer_id),
           month TEXT NOT NULL, amount_clp BIGINT NOT NULL, PRIMARY KEY (customer_id, month))""",
        """CREATE TABLE customer_documents (customer_id TEXT NOT NULL REFERENCES customers (customer_id),
           file_name TEXT NOT NULL, kind TEXT NOT NULL CHECK (kind IN ('contrato', 'protocolo', 'estudio', 'otro')),
           pdf BYTEA NOT NULL, PRIMARY KEY (customer_id, file_name))""",
        # the platform's accounts (host/store/portal_users.py); failed logins go to console_throttle
        """CREATE TABLE portal_users (id {pk}, name TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL, email TEXT,
           rut TEXT, profile TEXT NOT NULL CHECK (profile IN ('publico', 'cliente', 'eg', 'sec')),
           customer_id TEXT REFERENCES customers (customer_id), created_at BIGINT NOT NULL)""",
    )),
    (8, (
        # Gestiona Energía's inventory (host/gestiona.py): the building's Calle and N°, the supply's energy
        # carrier (the register held electricity only until now), the unit's facts, who holds its bills, and
        # why a unit off the PMG cannot report; reports_pmg and will_report are 1, 0 or NULL (not stated)
        "ALTER TABLE customers ADD COLUMN street TEXT",
        "ALTER TABLE customers ADD COLUMN street_number TEXT",
        "ALTER TABLE customers ADD COLUMN energy TEXT NOT NULL DEFAULT 'Electricidad'",
        "ALTER TABLE customers ADD COLUMN institution TEXT",
        "ALTER TABLE customers ADD COLUMN service TEXT",
        "ALTER TABLE customers ADD COLUMN use_type TEXT",
        "ALTER TABLE customers ADD COLUMN floors TEXT",
        "ALTER TABLE customers ADD COLUMN surface_m2 DOUBLE PRECISION",
        "ALTER TABLE customers ADD COLUMN ownership TEXT",
        "ALTER TABLE customers ADD COLUMN rol TEXT",
        "ALTER TABLE customers ADD COLUMN rol_justification TEXT",
        "ALTER TABLE customers ADD COLUMN built_year INTEGER",
        "ALTER TABLE customers ADD COLUMN staff INTEGER",
        "ALTER TABLE customers ADD COLUMN reports_pmg INTEGER",
        "ALTER TABLE customers ADD COLUMN unit_bill_access TEXT",
        "ALTER TABLE customers ADD COLUMN responsible_institution TEXT",
        "ALTER TABLE customers ADD COLUMN responsible_service TEXT",
        "ALTER TABLE customers ADD COLUMN responsible_organization TEXT",
        "ALTER TABLE customers ADD COLUMN will_report INTEGER",
        "ALTER TABLE customers ADD COLUMN no_report_justification TEXT",
    )),
    (9, (
        # the platform's sessions (host/store/portal_users.py), kept as the console's are (host/sessions.py): the
        # SHA-256 of the cookie's random id, so the table holds no live cookie; in the database, so a restart keeps
        # them and several server processes share them
        """CREATE TABLE portal_sessions (id TEXT PRIMARY KEY, user_id BIGINT NOT NULL, csrf TEXT NOT NULL,
           created_at BIGINT NOT NULL, seen_at BIGINT NOT NULL)""",
        "CREATE INDEX portal_sessions_by_user ON portal_sessions (user_id)",
        # the robot check's spent tokens (host/portal/robot.py), by nonce, until they expire: a form sent to one
        # process is refused by every other
        "CREATE TABLE portal_robot_tokens (nonce TEXT PRIMARY KEY, expires_at DOUBLE PRECISION NOT NULL)",
    )),
    (10, (
        # the distributed head-end (host/headend/): a run is a harvest split into shards; a shard holds its
        # inventory rows (credential names only: the secrets stay with the workers) and how often a worker took it
        """CREATE TABLE headend_runs (harvest_id BIGINT PRIMARY KEY, inventory TEXT NOT NULL, shards INTEGER NOT NULL,
           origin TEXT NOT NULL)""",
        """CREATE TABLE headend_shards (harvest_id BIGINT NOT NULL, shard INTEGER NOT NULL, meters TEXT NOT NULL,
           meter_count INTEGER NOT NULL, state TEXT NOT NULL, deliveries INTEGER NOT NULL, worker TEXT,
           started_at BIGINT, finished_at BIGINT, PRIMARY KEY (harvest_id, shard))""",
        # meters that failed every attempt of a run, with the last reason, until a run reads them
        """CREATE TABLE dead_letters (device_id TEXT PRIMARY KEY, failures INTEGER NOT NULL,
           first_failed_at BIGINT NOT NULL, last_failed_at BIGINT NOT NULL, last_reason TEXT NOT NULL,
           harvest_id BIGINT NOT NULL)""",
        # periodic harvests Celery beat submits: daily at a local hour, or every N seconds
        """CREATE TABLE headend_schedules (name TEXT PRIMARY KEY, inventory TEXT NOT NULL, meters TEXT NOT NULL,
           at_hour INTEGER, at_minute INTEGER, timezone TEXT NOT NULL, every_s INTEGER, shards INTEGER NOT NULL,
           created_at BIGINT NOT NULL)""",
    )),
    (11, (
        # events meters push (host/headend/listen.py), beside the harvested ones but not in `events`: the harvester
        # resumes a meter's event log after MAX(occurred_at) in `events`, so a pushed event stored there would make
        # the next harvest skip the older events it has not fetched yet. sequence: the event's number in the
        # meter's log (the notification's invoke id); invocation_counter NULL for one sent plain
        """CREATE TABLE pushed_events (device_id TEXT NOT NULL, sequence BIGINT NOT NULL, occurred_at BIGINT NOT NULL,
           code INTEGER NOT NULL, payload_a BIGINT NOT NULL, payload_b INTEGER NOT NULL, credit_wh BIGINT NOT NULL,
           relay_closed INTEGER NOT NULL, priority INTEGER NOT NULL, sent_at BIGINT, invocation_counter BIGINT,
           received_at BIGINT NOT NULL, peer TEXT NOT NULL, PRIMARY KEY (device_id, sequence))""",
        "CREATE INDEX pushed_events_by_time ON pushed_events (device_id, occurred_at)",
        # the last invocation counter accepted from each meter: a lower or equal one is a replay, for every
        # listener on the database and after a restart
        """CREATE TABLE push_counters (device_id TEXT PRIMARY KEY, invocation_counter BIGINT NOT NULL,
           updated_at BIGINT NOT NULL)""",
        # frames refused, why, and their first bytes in hexadecimal
        """CREATE TABLE push_refusals (id {pk}, peer TEXT NOT NULL, received_at BIGINT NOT NULL, reason TEXT NOT NULL,
           frame_head TEXT NOT NULL)""",
        "CREATE INDEX push_refusals_by_time ON push_refusals (received_at)",
    )),
)


def migrate(database) -> None:
    """Bring the database to the newest version, all the versions it lacks in one transaction. Several processes
    opening a new database at once (a head-end's workers) take turns: the first migrates, the others find it done."""
    latest = MIGRATIONS[-1][0]
    try:
        if version(database) == latest:
            return
    except Exception:  # no schema_version table yet: a new database
        database.db.rollback()
    with database.exclusive("opsm-schema"):
        database.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        current = version(database) or 0
        for number, statements in MIGRATIONS:
            if number <= current:
                continue
            for statement in statements:
                database.execute(statement.replace("{pk}", database.auto_key))
            database.execute("INSERT INTO schema_version (version) VALUES (?)", (number,))


def version(database) -> int | None:
    return database.query("SELECT MAX(version) FROM schema_version")[0][0]
