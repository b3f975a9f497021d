"""STS (IEC 62055-41) vending side: key derivation, token layouts, issuing."""
