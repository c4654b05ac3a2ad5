"""Every scheduling value round-trips through caredomain JSON."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from caredomain.core import from_json, to_dict, to_json
from caredomain.scheduling import AvailabilityTemplate
from caredomain.testing import strategies as cst


@pytest.mark.parametrize(
    "strategy",
    [cst.schedules(), cst.slots(), cst.sessions(), cst.appointment_requests()],
    ids=["schedule", "slot", "session", "request"],
)
@given(data=st.data())
def test_round_trip(strategy, data):
    value = data.draw(strategy)
    back = from_json(to_json(value), type(value))
    assert back == value
    assert to_dict(back) == to_dict(value)


@given(st.lists(cst.sessions(), max_size=4), cst.timezones())
def test_availability_template_round_trip(sessions, zone):
    template = AvailabilityTemplate("dr-chen", zone, sessions)
    assert from_json(to_json(template), AvailabilityTemplate) == template
