"""Readable renderings of rules and the clause diff between versions (admin display)."""

from rules.text import ranking_text, rule_diff, rule_text


def test_rule_text_reads_like_the_design():
    rule = {
        "all": [
            {"field": "arr", "op": "gte", "value": 100000},
            {"field": "plan", "op": "in", "value": ["pro", "enterprise"]},
            {
                "any": [
                    {"field": "health_score", "op": "is_null"},
                    {"not": {"field": "renewal_date", "op": "within_next_days", "value": 90}},
                ]
            },
        ]
    }
    assert rule_text(rule) == (
        "arr ≥ 100000 AND plan in [pro, enterprise] AND "
        "(health_score is empty OR NOT renewal_date within the next 90 days)"
    )
    assert rule_text({"all": []}) == "every account"
    assert rule_text({"any": []}) == "no account"
    assert rule_text({"field": "arr", "op": "between", "value": [1, 2]}) == "arr between 1 and 2"


def test_rule_diff_lists_removed_added_and_kept_clauses():
    before = {
        "all": [
            {"field": "arr", "op": "gte", "value": 100000},
            {"field": "plan", "op": "eq", "value": "pro"},
        ]
    }
    after = {
        "all": [
            {"field": "arr", "op": "gte", "value": 50000},
            {"field": "plan", "op": "eq", "value": "pro"},
        ]
    }
    diff = rule_diff(before, after, ranking_before="", ranking_after=ranking_text("arr", 10))
    assert diff.removed == ["arr ≥ 100000"]
    assert diff.added == ["arr ≥ 50000"]
    assert diff.kept == ["plan = pro"]
    assert diff.ranking_after == "top 10 by arr"
    assert diff.changed
    assert not rule_diff(before, before).changed
