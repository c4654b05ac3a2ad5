"""The referrals page embeds the generated diagram and the mapping tables, never copies."""

from pathlib import Path

from caredomain.referrals import FHIR_STATUS, HL7V2_MESSAGES, REFERRAL_MACHINE, RF1_STATUS

PAGE = (Path(__file__).resolve().parents[2] / "docs" / "referrals.md").read_text(encoding="utf-8")


def test_diagram_is_the_generated_one():
    block = PAGE.split("```mermaid\n", 1)[1].split("```", 1)[0]
    assert block == REFERRAL_MACHINE.to_mermaid()


def test_every_mapping_row_is_on_the_page():
    for state, status in FHIR_STATUS.items():
        business = f"{status.business.code} {status.business.display}" if status.business else "—"
        row = (
            f"| `{state.value}` | `{status.task}` | {business} | `{status.service_request}` "
            f"| {RF1_STATUS[state] or '—'} |"
        )
        assert row in PAGE
    for event, messages in HL7V2_MESSAGES.items():
        assert (
            f"| `{event.__name__}` | {messages.classic or '—'} | {messages.x360 or '—'} |" in PAGE
        )
