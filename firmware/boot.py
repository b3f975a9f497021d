# OPSM-SP-230: nothing runs here, so a broken module can never keep the REPL from starting.
