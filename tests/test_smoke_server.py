from downloader import download_all

from .conftest import random_bytes


async def test_downloads_files_byte_exact(server, tmp_path):
    big = random_bytes(3_000_000, seed=1)
    server.add("big.bin", big)
    server.add("small.txt", b"hello")
    urls = [server.url("big.bin"), server.url("small.txt")]
    results = await download_all(urls, tmp_path)
    assert results.ok, results.failed
    assert (tmp_path / "big.bin").read_bytes() == big
    assert (tmp_path / "small.txt").read_bytes() == b"hello"
