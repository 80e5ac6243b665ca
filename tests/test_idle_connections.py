"""Idle keep-alive connections over many hosts: only the hosts that went idle last keep
theirs, so a list over thousands of hosts does not hold thousands of idle sockets."""

from __future__ import annotations

import aiohttp
from yarl import URL

from downloader import download_all
from downloader.session import IdleCappedConnector, idle_cap


def _idle(connector: aiohttp.TCPConnector) -> dict[str, int]:
    return {key.host + f":{key.port}": len(idle) for key, idle in connector._conns.items()}


async def test_idle_connections_of_the_oldest_hosts_are_closed(server, elsewhere, tmp_path):
    urls = [server.url(server.add("a.bin", b"a" * 1000))]
    urls.append(elsewhere.url(elsewhere.add("b.bin", b"b" * 1000)))
    connector = IdleCappedConnector(idle_cap=1, limit=2)
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
    connector = IdleCappedConnector(idle_cap=1, limit=4)
    async with aiohttp.ClientSession(connector=connector) as session:
        results = await download_all(urls, tmp_path, jobs=4, session=session)
        assert all(r.ok for r in results)
        [(_, count)] = _idle(connector).items()
        assert count > 1  # one host: never cut below what it uses


def test_the_idle_cap_follows_the_jobs():
    assert idle_cap(1) == 8 and idle_cap(5) == 10 and idle_cap(500) == 1000


async def test_many_hosts_keep_at_most_the_cap_in_all(server, elsewhere, tmp_path):
    """Two origins, four connections each, a cap of 4: after the second origin's files, the
    first origin's idle connections are closed, and the pool holds no more than the cap."""
    one = [server.url(server.add(f"{n}.bin", b"1" * 200_000)) for n in range(8)]
    two = [elsewhere.url(elsewhere.add(f"{n}.bin", b"2" * 200_000)) for n in range(8)]
    connector = IdleCappedConnector(idle_cap=4, limit=4)
    async with aiohttp.ClientSession(connector=connector) as session:
        assert all(r.ok for r in await download_all(one, tmp_path / "1", jobs=4, session=session))
        assert all(r.ok for r in await download_all(two, tmp_path / "2", jobs=4, session=session))
        idle = _idle(connector)
        assert sum(idle.values()) <= 4
        assert list(idle) == [f"127.0.0.1:{URL(two[0]).port}"]
