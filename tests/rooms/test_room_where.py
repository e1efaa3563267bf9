"""Countries and devices of a room count live unique viewers as the overview does: each signed-in
person once and each live stay of someone not signed in (definitions.py, live_unique_viewers)."""
from __future__ import annotations

import re

from lti_tool.analytics import rooms
from lti_tool.ingest import tokens

from .test_room_analytics import loaded  # noqa: F401  (the hand-computed session: Ana, Ben and one anonymous stay)
from .test_room_page import room_page  # noqa: F401


def test_the_all_row_is_the_overviews_live_unique_viewers(db, loaded):  # noqa: F811
    overview = rooms.overview(db.session, loaded)
    assert overview.unique_live_viewers == 3                  # Ana, Ben, and the stay of someone not signed in
    assert rooms.where_totals(db.session, loaded).live_viewers == overview.unique_live_viewers
    # The anonymous stay joined from an unknown place on an unknown device: it counts there.
    countries = {r.value: r.live_viewers for r in rooms.where_viewers(db.session, loaded, "country")}
    assert countries == {None: 3, "BR": 1, "US": 0}          # Ana's breakout stay is from an unknown place too
    devices = {r.value: r.live_viewers for r in rooms.where_viewers(db.session, loaded, "device")}
    assert devices == {"other": 3, "mobile": 1, "desktop": 0}


def test_page_and_report_api_agree_with_the_overview(room_page, client, registration):  # noqa: F811
    overview = room_page(target="overview").text
    live = re.search(r">Live unique viewers</span>: (\d+)<", overview).group(1)
    where = room_page(target="where").text
    alls = re.findall(r'<tr class="totals"><th scope="row">All (?:countries|devices)</th><td class="num">(\d+)</td>', where)
    assert alls == [live, live] == ["3", "3"]
    secret = tokens.create(registration.id, "reports")[1]
    for report in ("room-countries", "room-devices"):
        body = client.get(f"/api/v1/reports/{report}?room=room-1&session=main",
                          headers={"Authorization": f"Bearer {secret}"}).get_json()["data"]
        assert body["all"]["live_viewers"] == 3, report
