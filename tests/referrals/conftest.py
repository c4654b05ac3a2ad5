import pendulum
import pytest

from caredomain.core import CodeableConcept, FixedClock, Reference
from caredomain.referrals import Referral, ReferralTarget

CHI = "America/Chicago"
T0 = pendulum.datetime(2026, 12, 1, 9, tz=CHI)


def make_referral(**kw):
    args = {
        "id": "ref-1",
        "patient": Reference.to("Patient", "p1"),
        "requester": Reference.to("Practitioner", "dr-pcp"),
        "target": ReferralTarget(
            specialty=CodeableConcept.of("SNOMED", "394801008", "Trauma and orthopedics"),
            performer=Reference.to("Organization", "ortho-group"),
            in_network=True,
        ),
        "reasons": [CodeableConcept.of("ICD-10-CM", "M25.561", "Pain in right knee")],
    } | kw
    return Referral(**args)


@pytest.fixture
def clock():
    return FixedClock(T0.add(days=60))
