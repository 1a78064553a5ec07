"""Reporting layer: figures with their data files, the verdicts, the report, reading TensorBoard logs."""
