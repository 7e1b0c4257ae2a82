"""The named analytics statements (segments/sql/[<vendor>/]analytics_*.sql) load as the
selectors use them: header comment left out, every format field filled."""

from pathlib import Path
from string import Formatter

import pytest

from segments.analytics.statements import analytics_sql

SQL_ROOT = Path(__file__).resolve().parent.parent / "sql"
STATEMENTS = sorted(
    {path.stem.removeprefix("analytics_") for path in SQL_ROOT.glob("**/analytics_*.sql")}
)


def format_fields(name: str) -> set[str]:
    text = "\n".join(path.read_text() for path in SQL_ROOT.glob(f"**/analytics_{name}.sql"))
    return {field for _, field, _, _ in Formatter().parse(text) if field}


def test_every_statement_of_the_selectors_has_a_file():
    assert set(STATEMENTS) >= {
        "cohort_retention",
        "members_as_of",
        "metrics_current",
        "members_since_began",
        "metrics_window",
    }


@pytest.mark.parametrize("name", STATEMENTS)
def test_a_statement_is_sent_without_its_header_comment(name):
    # Given the statement file for this database, with its fields filled in
    fields = dict.fromkeys(format_fields(name), "FIELD")

    # When it is loaded as the selectors load it
    sql = analytics_sql(name, **fields)

    # Then it is one statement with no comment left in it (a comment in the body could
    # hold a placeholder, or swallow the text filled in after it on its line)
    assert sql.lstrip().upper().startswith(("SELECT", "WITH"))
    assert "--" not in sql
    assert "{" not in sql
