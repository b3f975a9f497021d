"""The vending console: a web application for selling kWh and printing recharge codes."""
