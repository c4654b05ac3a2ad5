from pathlib import Path

from caredomain.authorization import AUTHORIZATION_MACHINE

PAGE = (Path(__file__).resolve().parents[2] / "docs" / "authorization.md").read_text(
    encoding="utf-8"
)


def test_diagram_is_the_generated_one():
    assert PAGE.split("```mermaid\n", 1)[1].split("```", 1)[0] == AUTHORIZATION_MACHINE.to_mermaid()
