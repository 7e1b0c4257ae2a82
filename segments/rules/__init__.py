"""The segment rule language (DESIGN section 3): fields, validation, the in-memory
evaluator and the compiler to a Django Q. Plain Python except ``compiler``."""

from .compiler import (
    TraitValue,
    compile_node,
    compile_rule,
    rank_order_by,
    rule_queryset,
)
from .evaluator import (
    account_rule_values,
    evaluate_node,
    evaluate_rule,
    explain_rule,
    json_actual,
)
from .fields import (
    CHOICES,
    FIELD_TYPES,
    OPERATORS_BY_TYPE,
    RANKABLE_FIELDS,
    TYPES,
    AttributeSpec,
    attribute_specs_from_definitions,
    coerce_value,
    field_type,
)
from .validation import (
    MAX_DEPTH,
    MAX_NODES,
    Node,
    RuleError,
    RuleValidationError,
    parse_rule,
    rank_field_type,
    validate_rank,
    validate_rule,
)

__all__ = [
    "CHOICES",
    "FIELD_TYPES",
    "MAX_DEPTH",
    "MAX_NODES",
    "OPERATORS_BY_TYPE",
    "RANKABLE_FIELDS",
    "TYPES",
    "AttributeSpec",
    "Node",
    "RuleError",
    "RuleValidationError",
    "TraitValue",
    "account_rule_values",
    "attribute_specs_from_definitions",
    "coerce_value",
    "compile_node",
    "compile_rule",
    "evaluate_node",
    "evaluate_rule",
    "explain_rule",
    "field_type",
    "json_actual",
    "parse_rule",
    "rank_field_type",
    "rank_order_by",
    "rule_queryset",
    "validate_rank",
    "validate_rule",
]
