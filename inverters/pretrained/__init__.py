"""Shipped inverters (see README.md here): load them by short name with inverters.load_inverter."""
