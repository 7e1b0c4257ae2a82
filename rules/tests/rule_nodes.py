"""Building blocks of rule trees for the rule engine tests."""


def leaf(field: str, op: str, value: object = None) -> dict:
    """A condition node; the null operators take no value."""
    node = {"field": field, "op": op}
    if op not in ("is_null", "is_not_null"):
        node["value"] = value
    return node
