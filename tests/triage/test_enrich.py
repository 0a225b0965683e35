"""Enrichment from local files: the asset inventory (CSV, YAML), IOC lists (text, CSV) and the
optional GeoIP database; bad files are named with the line at fault."""

from __future__ import annotations

from pathlib import Path

import pytest
from triage_helpers import INVENTORY, IOC_LISTS

from soc.triage.enrich import Enricher, EnrichError, load_inventory, load_iocs


def test_inventory_yaml_matches_hosts_addresses_and_narrowest_network() -> None:
    inventory = load_inventory([INVENTORY])
    assert inventory.lookup("tc-app01").department == "Sở Tài chính"
    assert inventory.lookup("TC-APP01").host == "tc-app01"
    assert inventory.lookup("103.9.86.10").public_facing is True
    assert inventory.lookup("10.20.2.35").host == "yt-pc-035"  # exact beats 10.20.2.0/24
    assert inventory.lookup("10.20.2.99").host == "yt-staff"
    assert inventory.lookup("8.8.8.8") is None


def test_inventory_csv_and_its_errors(tmp_path: Path) -> None:
    good = tmp_path / "assets.csv"
    good.write_text(
        "host,ip,department,owner,criticality,public_facing,room\n"
        'web01,"10.1.0.5;10.1.0.6",Sở Xây dựng,Tổ CNTT,high,yes,B2\n'
        "\n"
        ",10.9.0.0/16,Sở Giáo dục,,low,no,\n",
        encoding="utf-8",
    )
    inventory = load_inventory([good])
    web = inventory.lookup("10.1.0.6")
    assert web is not None and web.host == "web01" and web.public_facing
    assert web.extra == {"room": "B2"} and web.criticality == "high"
    assert inventory.lookup("10.9.3.3").department == "Sở Giáo dục"
    bad = tmp_path / "bad.csv"
    bad.write_text("host,ip,criticality\nweb01,10.1.0.5,urgent\n")
    with pytest.raises(EnrichError, match=r"bad.csv:2: criticality 'urgent' is not one of"):
        load_inventory([bad])
    bad.write_text("host,ip\nweb01,10.1.0.500\n")
    with pytest.raises(EnrichError, match=r"bad.csv:2: '10.1.0.500' is not an IP"):
        load_inventory([bad])
    bad.write_text("name_of_thing,owner\nx,y\n")
    with pytest.raises(EnrichError, match=r"bad.csv:1: the header needs a host or ip column"):
        load_inventory([bad])
    broken = tmp_path / "broken.yaml"
    broken.write_text("assets:\n  - host: [\n")
    with pytest.raises(EnrichError, match=r"broken.yaml:\d+: malformed YAML"):
        load_inventory([broken])
    with pytest.raises(EnrichError, match="cannot read the inventory"):
        load_inventory([tmp_path / "missing.yaml"])


def test_ioc_lists_text_and_csv(tmp_path: Path) -> None:
    iocs = load_iocs(list(IOC_LISTS))
    assert [i.list_name for i in iocs.match("185.220.101.47")] == ["ioc-ips"]
    assert "Tor exit" in iocs.match("185.220.101.47")[0].description
    assert iocs.match("198.51.100.200")[0].value == "198.51.100.0/24"
    tunnel = iocs.match("58af4710.0000.CDN-SYNC-UPDATE.xyz.")
    assert [i.value for i in tunnel] == ["cdn-sync-update.xyz"]
    assert iocs.match("sync-update.xyz") == []
    assert iocs.match("44D88612FEA8A8F36DE82E1278ABB02F")[0].kind == "hash"
    assert iocs.match("10.20.2.35") == []
    bad = tmp_path / "iocs.csv"
    bad.write_text("what,when\nx,y\n")
    with pytest.raises(EnrichError, match=r"iocs.csv:1: the header needs an 'indicator'"):
        load_iocs([bad])


def test_enricher_summary_facts() -> None:
    enricher = Enricher.from_files([INVENTORY], list(IOC_LISTS))
    fact = enricher.enrich(["185.220.101.47", "tc-app01"], ["inventory", "ioc", "geoip"])
    assert fact["ioc_match"] is True and fact["ioc_lists"] == ["ioc-ips"]
    assert fact["assets"] == ["tc-app01"] and fact["criticality"] == "critical"
    assert fact["departments"] == ["Sở Tài chính"]
    assert fact["internal"] is False
    assert fact["available"] == ["inventory", "ioc"]  # no GeoIP database given
    empty = Enricher().enrich(["10.0.0.1"], ["inventory", "ioc"])
    assert empty["available"] == [] and empty["internal"] is True


def test_geoip_file_problems_are_one_line(tmp_path: Path) -> None:
    not_a_db = tmp_path / "city.mmdb"
    not_a_db.write_bytes(b"not a maxmind database")
    with pytest.raises(EnrichError) as caught:
        Enricher.from_files(geoip=not_a_db)
    message = str(caught.value)
    assert message.startswith(str(not_a_db))
    assert "\n" not in message
    assert "maxminddb" in message or "cannot open the GeoIP database" in message


def test_geoip_from_a_maxmind_database(tmp_path: Path) -> None:
    pytest.importorskip("maxminddb")
    from mmdb_writer import write_mmdb

    db = tmp_path / "city.mmdb"
    write_mmdb(
        db,
        {
            "185.220.101.0/24": {
                "country": {"iso_code": "DE", "names": {"en": "Germany"}},
                "city": {"names": {"en": "Frankfurt am Main"}},
            },
            "113.160.0.0/11": {"country": {"iso_code": "VN", "names": {"en": "Vietnam"}}},
        },
    )
    enricher = Enricher.from_files(geoip=db)
    fact = enricher.enrich(
        ["185.220.101.47", "113.161.2.3", "10.20.1.5", "8.8.8.8", "2001:4860::8888"], ["geoip"]
    )
    geos = [v.get("geo") for v in fact["values"]]
    assert geos[0] == {
        "country_iso_code": "DE",
        "country_name": "Germany",
        "city_name": "Frankfurt am Main",
    }
    assert geos[1] == {"country_iso_code": "VN", "country_name": "Vietnam"}
    assert geos[2:] == [None, None, None]  # private, not in the database, IPv6 in an IPv4 db
    assert fact["countries"] == ["DE", "VN"]
    assert fact["available"] == ["geoip"]
