"""The docs' appointment diagram is the one generated from the table, never drawn by hand."""

from pathlib import Path

from caredomain.scheduling import APPOINTMENT_MACHINE

PAGE = Path(__file__).resolve().parents[2] / "docs" / "scheduling.md"


def test_scheduling_page_embeds_the_generated_diagram():
    text = PAGE.read_text(encoding="utf-8")
    block = text.split("```mermaid\n", 1)[1].split("```", 1)[0]
    assert block == APPOINTMENT_MACHINE.to_mermaid()
