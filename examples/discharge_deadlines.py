"""Transitional-care deadlines for a discharge, from the public API only.

Run: python examples/discharge_deadlines.py examples/patient.json 2026-11-25T15:30:00-06:00
"""

import sys
from pathlib import Path

import pendulum

from caredomain import BusinessCalendar, Patient, from_json
from caredomain.core import parse_datetime


def main(patient_file: str, discharged_at: str) -> None:
    """Print the TCM contact and face-to-face deadlines for one discharge."""
    patient = from_json(Path(patient_file).read_text(encoding="utf-8"), Patient)
    discharge = parse_datetime(discharged_at, "discharged_at")
    zone = patient.timezone or "UTC"
    calendar = BusinessCalendar(timezone=zone)
    contact = calendar.deadline(discharge, 2)  # CMS TCM: contact within 2 business days
    local = discharge.in_tz(zone)
    print(f"patient {patient.id}, discharged {local.isoformat()}")
    print(f"  interactive contact before {contact.isoformat()}")
    for days, code in ((7, "99496"), (14, "99495")):  # CMS TCM face-to-face windows
        due = pendulum.datetime(local.year, local.month, local.day, tz=zone).add(days=days + 1)
        print(f"  face-to-face for CPT {code} before {due.isoformat()}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
