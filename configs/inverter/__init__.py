"""Inverter training configs (LightningCLI YAML)."""
