def register_rule_fields() -> None:
    """Registers the usage.* rule field family (filled in below)."""
