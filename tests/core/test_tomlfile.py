import pytest

from caredomain.core import RuleError, load_toml

TEXT = """\
# a rule pack
name = "demo"

[rules.opd-bleph]
codes = ["15820", "15821"]
effective = 2020-07-01

[rules.opd-rhino]
codes = ["30400"]
"""


def test_line_of_keys_and_tables():
    doc = load_toml(TEXT, "pack.toml")
    assert doc.data["rules"]["opd-rhino"]["codes"] == ["30400"]
    assert doc.line_of("name") == 2
    assert doc.line_of("rules", "opd-bleph") == 4
    assert doc.line_of("rules", "opd-bleph", "effective") == 6
    assert doc.line_of("rules", "opd-rhino", "codes") == 9
    assert doc.line_of("nowhere") is None


def test_error_points_at_the_key():
    err = load_toml(TEXT, "pack.toml").error("bad date", "rules", "opd-bleph", "effective")
    assert str(err) == "pack.toml:6 [rules.opd-bleph.effective]: bad date"


def test_syntax_errors_carry_the_line():
    with pytest.raises(RuleError) as info:
        load_toml('a = 1\nb = "unterminated\n', "bad.toml")
    assert info.value.line == 2
    assert info.value.source == "bad.toml"
