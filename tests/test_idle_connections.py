"""Idle keep-alive connections over many hosts: only the hosts that went idle last keep
theirs, so a list over thousands of hosts does not hold thousands of idle sockets."""

from __future__ import annotations

import aiohttp
from yarl import URL

from downloader import download_all
from downloader.session import IdleCappedConnector, idle_hosts


def _idle(connector: aiohttp.TCPConnector) -> dict[str, int]:
    return {key.host + f":{key.port}": len(idle) for key, idle in connector._conns.items()}


async def test_idle_connections_of_the_oldest_hosts_are_closed(server, elsewhere, tmp_path):
    urls = [server.url(server.add("a.bin", b"a" * 1000))]
    urls.append(elsewhere.url(elsewhere.add("b.bin", b"b" * 1000)))
    connector = IdleCappedConnector(idle_hosts=1, limit=2)
    async with aiohttp.ClientSession(connector=connector) as session:
        first = await download_all(urls[:1], tmp_path, session=session)
        [(_, count)] = _idle(connector).items()
        assert count == 1 and first[0].ok
        [kept_first] = next(iter(connector._conns.values()))

        second = await download_all(urls[1:], tmp_path, session=session)
        assert second[0].ok
        assert list(_idle(connector)) == [f"127.0.0.1:{URL(urls[1]).port}"]
        assert not kept_first[0].is_connected()  # closed at once, not after 15 s

        third = await download_all(urls[1:] + urls[:1], tmp_path / "again", session=session)
        assert all(r.ok for r in third)
        assert len(_idle(connector)) == 1


async def test_one_host_keeps_all_its_idle_connections(server, tmp_path):
    urls = [server.url(server.add(f"{n}.bin", b"x" * 100_000)) for n in range(20)]
    connector = IdleCappedConnector(idle_hosts=1, limit=4)
    async with aiohttp.ClientSession(connector=connector) as session:
        results = await download_all(urls, tmp_path, jobs=4, session=session)
        assert all(r.ok for r in results)
        [(_, count)] = _idle(connector).items()
        assert count > 1  # the cap counts hosts, not connections


def test_idle_hosts_follow_the_jobs():
    assert idle_hosts(1) == 8 and idle_hosts(5) == 10 and idle_hosts(500) == 1000
