"""OPSM-SP-230 host tools: `opsm.host` (CLI, vending, head-end, exports), `opsm.protocol` (the
sans-IO protocol cores the firmware shares), `opsm.simulator` (the virtual board) and the firmware
tree the tools build and deploy. In the repository these are its top-level folders."""
