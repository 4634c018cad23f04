"""Runnable examples that ship with mldeploy (data is generated, never downloaded)."""
