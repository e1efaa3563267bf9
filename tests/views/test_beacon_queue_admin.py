"""The admin "Beacon queue" page: the queue, this institution's parked beacons with their reasons, and Retry."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from lti_tool.ingest import beacon_queue
from lti_tool.store import RedisStore

from ..support.processes import free_port

PAGE = "/courses/{}/admin/beacon-queue"


@pytest.fixture
def open_as(launch_as, app, monkeypatch):
    """(get, post) of the page in the session of `person`; the beacon queue is on."""
    monkeypatch.setitem(app.config, "BEACON_QUEUE", True)

    def session(person):
        viewer = launch_as(person)
        url = PAGE.format(viewer.course.id)
        return (lambda: viewer.get(url), lambda **form: viewer.htmx().post(url, data=form))
    return session


def park(registration_id: int, entry: str, params=None) -> None:
    """A beacon the drain cannot store (an event index of 0 is refused when it is read)."""
    beacon_queue.enqueue(registration_id, params or {"eventType": "3", "eventIndex": "0", "entryId": entry,
                                                     "sessionId": "s"},
                         received_at=datetime.now(timezone.utc), ip=None, user_agent=None, user=None)


def test_admin_sees_parked_beacons_and_sends_them_back(open_as, registration):
    get, post = open_as("admin")
    html = get().text
    assert "None: every beacon of this institution" in html and "/admin/beacon-queue\"" in html  # in the navigation
    park(registration.id, "1_bad")
    park(registration.id, "1_worse")
    park(registration.id + 1000, "1_someone_elses")  # another institution's: not shown, not retried
    assert beacon_queue.drain().rejected == 3
    html = get().text
    assert "2 beacons of this institution could not be stored" in html
    assert "cannot be read" in html and "eventIndex must be between 1 and" in html
    assert "<code>1_bad</code>" in html and "1_someone_elses" not in html
    response = post(kind="invalid")
    assert response.status_code == 200 and "Sent 2 parked beacons back to the queue." in response.text
    assert [b.params["entryId"] for b in beacon_queue.parked()] == ["1_someone_elses"]


def test_a_waiting_queue_without_a_drain_is_pointed_out(open_as, registration):
    get, _ = open_as("admin")
    park(registration.id, "1_x", {"eventType": "3", "eventIndex": "1", "entryId": "1_x", "sessionId": "s"})
    html = get().text
    assert "Beacons are waiting and no drain is running." in html and "flask ingest drain" in html
    # Two drains running: both are named, sharing the shards.
    client = beacon_queue.get_store().client
    client.zadd(beacon_queue.DRAINS_KEY, {"web-1:4242:abc": 2**50, "web-2:77:def": 2**50})
    try:
        html = get().text
    finally:
        client.delete(beacon_queue.DRAINS_KEY)
    assert "2 running (<code>web-1:4242</code>, <code>web-2:77</code>), sharing the queue's 16 shards" in html
    assert "no drain is running" not in html


def test_a_made_up_reason_is_refused(open_as):
    _, post = open_as("admin")
    response = post(kind="everything")
    assert response.status_code == 422 and "Choose one of the reasons listed" in response.text


def test_without_redis_the_page_says_so(open_as, app, monkeypatch):
    get, _ = open_as("admin")
    monkeypatch.setitem(app.extensions, "ma_store", RedisStore(f"redis://127.0.0.1:{free_port()}/0"))
    response = get()
    assert response.status_code == 503 and "The queue (Redis) cannot be reached right now." in response.text


@pytest.mark.parametrize("person", ["teacher", "ta", "student"])
def test_others_may_not_open_it(open_as, person):
    get, post = open_as(person)
    assert get().status_code == 403 and post().status_code == 403
