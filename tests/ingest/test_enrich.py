"""Enrichment at ingest: the page a player was embedded on, the device, the viewer's country.

Domains are those of the University of Minnesota's "Common Domains You May Encounter" table for
Kaltura analytics. Countries are what geoip2fast's shipped data says; the city database is a
real .mmdb file written by mmdb-writer.
"""
from __future__ import annotations

import base64
import os
import random
import subprocess
import sys
from urllib.parse import quote

import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from lti_tool.ingest.enrich import (
    MAX_URL_CHARS,
    NO_PAGE,
    NOWHERE,
    DeviceInfo,
    Location,
    PageInfo,
    device_info,
    locate,
    page_info,
)

# ── Pages ───────────────────────────────────────────────────────────────────────────────────────

EMBED_PAGES = [
    ("https://canvas.umn.edu/courses/177708/pages/example-page", "canvas.umn.edu"),
    ("https://umn.instructure.com/courses/177708/modules/items/5524331", "umn.instructure.com"),
    (
        "https://umn.quiz-lti-iad-prod.instructure.com/lti/launch?participant_session_id=9",
        "umn.quiz-lti-iad-prod.instructure.com",
    ),
    (
        "https://a4356-36346120.cluster79.canvas-user-content.com/courses/177708/files/36346120/"
        "download?download_frd=1",
        "a4356-36346120.cluster79.canvas-user-content.com",
    ),
    ("https://iad.scorm.canvaslms.com/content/scorm/8a1f/index_lms.html", "iad.scorm.canvaslms.com"),
    ("https://cla.umn.edu/history/news-events/story/lecture-series", "cla.umn.edu"),
    (
        "https://1065223623-atari-embeds.googleusercontent.com/embeds/16cb204cf3a9d4d223a0a3fd8b0eec5d"
        "/inner-frame-minified.html?jsh=m",
        "1065223623-atari-embeds.googleusercontent.com",
    ),
    ("https://umn.qualtrics.com/jfe/form/SV_0ABCdefGHIjklMN", "umn.qualtrics.com"),
    ("https://umn.yul1.qualtrics.com/jfe/form/SV_0ABCdefGHIjklMN", "umn.yul1.qualtrics.com"),
    ("https://umnlms.ca1.qualtrics.com/jfe/form/SV_1xyZ", "umnlms.ca1.qualtrics.com"),
    ("https://articulateusercontent.com/review/uploads/5f3c/story.html", "articulateusercontent.com"),
    ("https://kaf.canvas.umn.edu/browseandembed/index/media/entryid/1_abc123", "kaf.canvas.umn.edu"),
    ("https://mediaspace.umn.edu/media/Lecture+1/1_abc123", "mediaspace.umn.edu"),
    (
        "https://cdnapisec.kaltura.com/p/1730221/sp/173022100/embedIframeJs/uiconf_id/39806721"
        "/partner_id/1730221?iframeembed=true&entry_id=1_abc123",
        "cdnapisec.kaltura.com",
    ),
    ("https://kmc.kaltura.com/index.php/kmcng/content/entries/entry/1_abc123", "kmc.kaltura.com"),
    ("https://958321-2.kaf.kaltura.com/browseandembed/index/media/entryid/1_abc123", "958321-2.kaf.kaltura.com"),
    ("https://ay17.kaf.moodle.umn.edu/browseandembed/index/media/entryid/1_abc123", "ay17.kaf.moodle.umn.edu"),
]

DOWNLOADED_PAGES = [
    ("file:///C:/Users/ann/Downloads/lecture.html", "C:", "file:///C:/Users/ann/Downloads/lecture.html"),
    ("C:\\Users\\ann\\Downloads\\lecture.html", "C:", "file:///C:/Users/ann/Downloads/lecture.html"),
    ("c:/Users/ann/Downloads/lecture.html", "C:", "file:///C:/Users/ann/Downloads/lecture.html"),
    ("D:/Course Pack/week 1.html", "D:", "file:///D:/Course%20Pack/week%201.html"),
    ("E:\\BIOL 1009\\lecture.htm", "E:", "file:///E:/BIOL%201009/lecture.htm"),
    ("file:///Users/ann/Desktop/x.html", "Users", "file:///Users/ann/Desktop/x.html"),
    ("/Users/ann/Desktop/x.html", "Users", "file:///Users/ann/Desktop/x.html"),
    (
        "file:///var/mobile/Containers/Data/Application/4F1A/Documents/lecture.html",
        "var",
        "file:///var/mobile/Containers/Data/Application/4F1A/Documents/lecture.html",
    ),
    ("file://localhost/C:/notes/lecture.html", "C:", "file:///C:/notes/lecture.html"),
    ("http://localhost:8000/x", "localhost", "http://localhost:8000/x"),
    ("http://127.0.0.1:5500/index.html", "127.0.0.1", "http://127.0.0.1:5500/index.html"),
    ("http://[::1]:8080/index.html", "::1", "http://[::1]:8080/index.html"),
    ("android-app://com.google.android.gm/", "com.google.android.gm", "android-app://com.google.android.gm/"),
    ("capacitor://localhost/lesson/3", "localhost", "capacitor://localhost/lesson/3"),
]


@pytest.mark.parametrize(("url", "domain"), EMBED_PAGES)
def test_embed_page_shows_the_domain_kaltura_shows(url, domain):
    assert page_info(url) == PageInfo(url=url, domain=domain, offline=False)


@pytest.mark.parametrize(("raw", "domain", "url"), DOWNLOADED_PAGES)
def test_downloaded_or_app_page_is_offline_with_kaltura_label(raw, domain, url):
    assert page_info(raw) == PageInfo(url=url, domain=domain, offline=True)


def test_host_and_scheme_are_lowered_and_fragment_dropped():
    info = page_info("HTTPS://Canvas.UMN.edu/courses/177708/Pages/Example-Page#section-2")
    assert info.url == "https://canvas.umn.edu/courses/177708/Pages/Example-Page"
    assert info.domain == "canvas.umn.edu"


def test_tracking_parameters_are_removed_and_real_ones_kept_in_order():
    raw = (
        "https://canvas.umn.edu/courses/1/pages/week-2?utm_source=newsletter&module_item_id=77"
        "&fbclid=IwAR2x&UTM_Campaign=fall&gclid=Cj0K&_ga=2.1&page=3&msclkid=9&mc_eid=5&wrap=1"
    )
    assert page_info(raw).url == "https://canvas.umn.edu/courses/1/pages/week-2?module_item_id=77&page=3&wrap=1"


def test_query_of_only_tracking_parameters_disappears():
    assert page_info("https://mediaspace.umn.edu/?utm_medium=email&igshid=x").url == "https://mediaspace.umn.edu/"


@pytest.mark.parametrize(
    ("raw", "url"),
    [
        ("https://canvas.umn.edu:443/courses/1", "https://canvas.umn.edu/courses/1"),
        ("http://www.umn.edu:80/", "http://www.umn.edu/"),
        ("https://canvas.umn.edu:8443/courses/1", "https://canvas.umn.edu:8443/courses/1"),
        ("https://canvas.umn.edu", "https://canvas.umn.edu/"),
        ("https://ann:secret@canvas.umn.edu./courses/1", "https://canvas.umn.edu/courses/1"),
        ("https://canvas.umn.edu/courses/1/files/My Notes.pdf", "https://canvas.umn.edu/courses/1/files/My%20Notes.pdf"),
    ],
)
def test_ports_credentials_and_spaces_are_normalised(raw, url):
    assert page_info(raw).url == url


def test_uri_encoded_referrer_is_decoded():
    assert page_info("https%3A%2F%2Fcanvas.umn.edu%2Fcourses%2F1") == PageInfo(
        url="https://canvas.umn.edu/courses/1", domain="canvas.umn.edu", offline=False
    )


def test_twice_uri_encoded_referrer_is_decoded():
    raw = quote(quote("https://umn.instructure.com/courses/1?module_item_id=4", safe=""), safe="")
    assert page_info(raw).url == "https://umn.instructure.com/courses/1?module_item_id=4"


def test_encoded_query_of_a_plain_url_is_kept_encoded():
    raw = "https://mediaspace.umn.edu/search?keyword=cell%20biology%26genetics"
    assert page_info(raw).url == raw


@pytest.mark.parametrize("encode", [base64.b64encode, base64.urlsafe_b64encode])
def test_base64_referrer_is_decoded(encode):
    url = "https://kaf.canvas.umn.edu/browseandembed/index/media/entryid/1_x?a=1&b=2>"
    raw = encode(url.encode()).decode().rstrip("=")
    assert page_info(raw) == PageInfo(
        url="https://kaf.canvas.umn.edu/browseandembed/index/media/entryid/1_x?a=1&b=2%3E",
        domain="kaf.canvas.umn.edu",
        offline=False,
    )


def test_base64_of_a_downloaded_page_is_offline():
    raw = base64.b64encode(b"file:///C:/Users/ann/lecture.html").decode()
    assert page_info(raw) == PageInfo(url="file:///C:/Users/ann/lecture.html", domain="C:", offline=True)


def test_idn_host_is_kept_as_given_in_lower_case():
    info = page_info("https://BÜCHER.example/kurs/vorlesung")
    assert (info.domain, info.url) == ("bücher.example", "https://bücher.example/kurs/vorlesung")


def test_overlong_url_is_cut_to_the_limit_without_a_broken_escape():
    raw = "https://canvas.umn.edu/courses/1/pages/" + "%C3%A9" * 400 + "?q=" + "x" * 20_000
    # 39 characters of prefix leave room for 160 whole escapes; the 161st is cut at its "%".
    assert page_info(raw).url == "https://canvas.umn.edu/courses/1/pages/" + "%C3%A9" * 160


def test_control_characters_are_dropped():
    assert page_info("\x00 https://canvas.umn.edu/cour\tses/1\r\n").url == "https://canvas.umn.edu/courses/1"


@pytest.mark.parametrize(
    "raw",
    [
        None, "", "   ", "Unknown", "garbage", "null", "about:blank", "about:srcdoc", "javascript:void(0)",
        "data:text/html,<p>x</p>", "//canvas.umn.edu/x", "https://", "https:///courses/1", "file:///",
        "https://exa mple.com/", "https://[::1", "http://canvas.umn.edu:99999/", "aGVsbG8gd29ybGQ=",
        "%E0%A4%A", "\ud800\udfff", "https://\x00/", 12345, b"https://canvas.umn.edu/",
    ],
)
def test_garbage_is_no_page(raw):
    assert page_info(raw) == NO_PAGE


def test_page_info_never_raises_on_random_input():
    rng = random.Random(20240801)
    alphabet = "ab:/\\?#&=%[]@.-_~ 09AZ\x00\x7fé€\u202e\ud800https://file:///C:"
    for _ in range(3000):
        raw = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        info = page_info(raw)
        assert info.url is None or len(info.url) <= MAX_URL_CHARS
        assert (info.url is None) == (info.domain is None)


def test_host_longer_than_dns_allows_is_no_page():
    assert page_info("https://" + "a" * 250 + ".edu/") == NO_PAGE
    assert page_info("https://" + "a" * 245 + ".edu/").domain == "a" * 245 + ".edu"


def test_huge_input_is_handled():
    assert page_info("A" * 5_000_000) == NO_PAGE
    assert page_info("https://canvas.umn.edu/" + "a" * 5_000_000).domain == "canvas.umn.edu"


# ── Devices ─────────────────────────────────────────────────────────────────────────────────────

WINDOWS_CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)
USER_AGENTS = [
    (WINDOWS_CHROME, DeviceInfo("desktop", "Windows", "Chrome")),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.2592.87",
        DeviceInfo("desktop", "Windows", "Edge"),
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.5 Safari/605.1.15",
        DeviceInfo("desktop", "Mac OS X", "Safari"),
    ),
    (
        "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0.0.0 Safari/537.36",
        DeviceInfo("desktop", "Chrome OS", "Chrome"),
    ),
    (
        "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
        DeviceInfo("desktop", "Linux", "Firefox"),
    ),
    (
        "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.5 Mobile/15E148 Safari/604.1",
        DeviceInfo("tablet", "iOS", "Mobile Safari"),
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.5 Mobile/15E148 Safari/604.1",
        DeviceInfo("mobile", "iOS", "Mobile Safari"),
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0.6478.122 Mobile Safari/537.36",
        DeviceInfo("mobile", "Android", "Chrome Mobile"),
    ),
    (
        "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0.6478.122 Safari/537.36",
        DeviceInfo("tablet", "Android", "Chrome"),
    ),
    (
        "Mozilla/5.0 (Android 14; Tablet; rv:127.0) Gecko/127.0 Firefox/127.0",
        DeviceInfo("tablet", "Android", "Firefox Mobile"),
    ),
    (
        "Mozilla/5.0 (Linux; U; Android 4.0.3; en-us; KFTT Build/IML74K) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Silk/3.68 like Chrome/39.0.2171.93 Safari/537.36",
        DeviceInfo("tablet", "Android", "Amazon Silk"),
    ),
    (
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        DeviceInfo("other", None, "Googlebot"),
    ),
    (
        "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0.6478.126 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        DeviceInfo("other", "Android", "Googlebot"),
    ),
    (
        "Mozilla/5.0 (Web0S; Linux/SmartTV) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/79.0.3945.79 Safari/537.36 WebAppManager",
        DeviceInfo("other", "Web0S", "Chrome"),
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; Xbox; Xbox One) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0.0.0 Safari/537.36 Edge/44.18363.8131",
        DeviceInfo("other", "Windows", "Edge"),
    ),
]


@pytest.mark.parametrize(("user_agent", "expected"), USER_AGENTS)
def test_user_agent_is_classified(user_agent, expected):
    assert device_info(user_agent) == expected


@pytest.mark.parametrize("user_agent", [None, "", "   ", "x" * 100_000, 42])
def test_missing_or_unknown_user_agent_is_other(user_agent):
    assert device_info(user_agent) == DeviceInfo("other", None, None)


def test_repeated_user_agent_is_served_from_cache():
    assert device_info(WINDOWS_CHROME) is device_info(WINDOWS_CHROME)


# ── Locations ───────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("ip", "country"),
    [
        ("8.8.8.8", "US"),  # Google public DNS
        ("134.84.119.107", "US"),  # University of Minnesota
        ("1.1.1.1", "AU"),  # APNIC / Cloudflare research prefix
        ("81.2.69.142", "GB"),
        ("193.0.6.139", "NL"),  # RIPE NCC
        ("200.147.67.142", "BR"),
        ("202.12.27.33", "JP"),  # M root server
        ("41.0.0.1", "ZA"),
        ("2001:4860:4860::8888", "US"),
        ("2a00:1450:4001:82a::200e", "DE"),
        ("::ffff:8.8.8.8", "US"),
        (" 8.8.8.8 ", "US"),
    ],
)
def test_public_address_resolves_to_its_country(ip, country):
    assert locate(ip) == Location(country=country, region=None, city=None)


@pytest.mark.parametrize(
    "ip",
    [
        None, "", "garbage", "8.8.8", "999.1.1.1", "8.8.8.8:443", 134744072,
        "10.0.0.1", "172.16.5.4", "192.168.1.20", "100.64.0.1",  # private and carrier-grade NAT
        "127.0.0.1", "::1", "169.254.10.1", "fe80::1", "fc00::1",  # loopback, link-local, unique local
        "0.0.0.0", "240.0.0.1", "255.255.255.255", "224.0.0.1", "ff02::1", "192.0.2.1", "2001:db8::1",
    ],
)
def test_private_reserved_or_malformed_address_has_no_location(ip):
    assert locate(ip) == NOWHERE


def test_location_does_not_carry_the_address():
    assert "8.8.8.8" not in repr(locate("8.8.8.8"))


UMN_RECORD = {
    "country": {"iso_code": "US", "names": {"en": "United States"}},
    "subdivisions": [{"iso_code": "MN", "names": {"en": "Minnesota"}}],
    "city": {"names": {"en": "Minneapolis"}},
}
RIPE_RECORD = {
    "country": {"iso_code": "NL", "names": {"en": "Netherlands"}},
    "subdivisions": [{"iso_code": "NH", "names": {"en": "North Holland"}}],
    "city": {"names": {"en": "Amsterdam"}},
}


def write_mmdb(path, database_type: str) -> str:
    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type=database_type, languages=["en"])
    writer.insert_network(IPSet(["134.84.0.0/16"]), UMN_RECORD)
    writer.insert_network(IPSet(["2001:67c:2e8::/48"]), RIPE_RECORD)
    writer.to_db_file(str(path))
    return str(path)


@pytest.fixture
def city_db(tmp_path):
    return write_mmdb(tmp_path / "GeoLite2-City.mmdb", "GeoLite2-City")


def test_city_database_gives_region_and_city(city_db):
    assert locate("134.84.119.107", city_db) == Location("US", "Minnesota", "Minneapolis")
    assert locate("2001:67c:2e8::1", city_db) == Location("NL", "North Holland", "Amsterdam")


def test_address_missing_from_city_database_falls_back_to_country(city_db):
    assert locate("8.8.8.8", city_db) == Location("US", None, None)


def test_private_address_has_no_location_with_city_database(city_db):
    assert locate("192.168.1.20", city_db) == NOWHERE


def test_unusable_city_database_leaves_country_only(tmp_path):
    country_only = write_mmdb(tmp_path / "GeoLite2-Country.mmdb", "GeoLite2-Country")
    not_a_database = tmp_path / "broken.mmdb"
    not_a_database.write_bytes(b"not an mmdb file")
    for path in (country_only, str(not_a_database), str(tmp_path / "missing.mmdb")):
        assert locate("134.84.119.107", path) == Location("US", None, None)


def test_country_data_loads_once_across_threads_without_touching_child_environment():
    """In a fresh process: eight threads race for the first lookup; PYTHONWARNINGS stays unset."""
    script = (
        "import os, concurrent.futures as f\n"
        "from lti_tool.ingest.enrich import locate\n"
        "with f.ThreadPoolExecutor(8) as pool:\n"
        "    found = set(pool.map(lambda _: locate('8.8.8.8').country, range(8)))\n"
        "print(sorted(found), os.environ.get('PYTHONWARNINGS'), os.environ.get('PYTHONIOENCODING'))\n"
    )
    environment = {k: v for k, v in os.environ.items() if k not in ("PYTHONWARNINGS", "PYTHONIOENCODING")}
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", script], capture_output=True, text=True, env=environment, check=True
    )
    assert done.stdout.split("\n")[0] == "['US'] None None"
    assert done.stderr == ""
