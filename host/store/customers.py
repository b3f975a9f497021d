"""The customer register (who is supplied through which meter) and what each customer was charged.

Money is in cents of the charge's currency, never in floating point. Customers come back as
dicts by column name.
"""

import time

_CHARGE_COLUMNS = ("customer_id", "document", "billed_at", "amount_cents", "currency", "kwh")


class CustomerTables:
    def save_customers(self, customers: list) -> None:
        """Insert or update every customer (dicts by column, customer_id among them) in one transaction; a
        column a dict leaves out keeps what is stored."""
        now = int(time.time())
        with self.transaction():
            for customer in customers:
                names = tuple(customer) + ("updated_at",)
                self.execute("INSERT INTO customers (%s) VALUES (%s) ON CONFLICT (customer_id) DO UPDATE SET %s" % (
                    ", ".join(names), ", ".join("?" * len(names)),
                    ", ".join("%s = excluded.%s" % (n, n) for n in names if n != "customer_id")),
                    tuple(customer.values()) + (now,))

    def save_charges(self, charges: list) -> int:
        """Store charges (customer_id, document, billed_at, amount_cents, currency, kwh) in one transaction (a
        document already stored is kept as it was); how many were new."""
        with self.transaction():
            return self.insert_ignore("charges", _CHARGE_COLUMNS, charges)

    def customer_ids(self) -> set:
        return {row[0] for row in self.query("SELECT customer_id FROM customers")}

    def distributors(self) -> list:
        """The distributors the register names, in order."""
        return [row[0] for row in self.query("SELECT DISTINCT distributor FROM customers WHERE distributor IS NOT "
                                             "NULL ORDER BY distributor")]

    def customers_of_distributor(self, distributor: str) -> list:
        """The customers of the distributor, and those who name none, by customer_id."""
        return self.dicts("SELECT * FROM customers WHERE distributor = ? OR distributor IS NULL ORDER BY customer_id",
                          (distributor,))

    def customers_supplied_by(self, device_id: str) -> list:
        """The customers supplied through the meter, by customer_id."""
        return self.dicts("SELECT * FROM customers WHERE device_id = ? ORDER BY customer_id", (device_id,))

    def customers_with_meter_numbers(self) -> list:
        """Every customer, with `meter`: the serial the harvester read from its meter, else its device_id (a gas
        meter is never harvested)."""
        return self.dicts("SELECT c.*, COALESCE(m.serial, c.device_id) AS meter FROM customers c "
                          "LEFT JOIN meters m ON m.device_id = c.device_id")

    def charge_currencies(self, customer_id: str) -> list:
        """The currencies the customer was charged in, in order."""
        return [row[0] for row in self.query("SELECT DISTINCT currency FROM charges WHERE customer_id = ? "
                                             "ORDER BY currency", (customer_id,))]

    def charges_between(self, customer_id: str, first: int, end: int) -> list:
        """(billed at, cents) of the customer's charges billed in [first, end)."""
        return self.query("SELECT billed_at, amount_cents FROM charges WHERE customer_id = ? AND billed_at >= ? "
                          "AND billed_at < ?", (customer_id, first, end))
