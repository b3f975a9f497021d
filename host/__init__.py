"""Host-side tools: vending, harvesting, exports, the opsm CLI."""
