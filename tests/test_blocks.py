"""The write blocks a body is gathered into: exact sizes, no byte lost or reordered."""

import pytest

from downloader.transfer import _Block


@pytest.mark.parametrize(
    ("limit", "pieces", "blocks"),
    [
        (4, [b"ab", b"cd"], [b"abcd"]),
        (4, [b"abcdef"], [b"abcd", b"ef"]),
        (4, [b"a", b"bcdefghij"], [b"abcd", b"efgh", b"ij"]),
        (4, [b"abc"], [b"abc"]),
        (3, [b"abcdefghi"], [b"abc", b"def", b"ghi"]),
        (4, [], []),
    ],
)
def test_blocks_have_the_limit_size_until_the_last(limit, pieces, blocks):
    block = _Block(limit)
    written = []
    for piece in pieces:
        if block.add(piece):
            while block.size >= block.limit:
                parts, size = block.take()
                written.append((b"".join(parts), size))
    while block.size:
        parts, size = block.take()
        written.append((b"".join(parts), size))
    assert [data for data, _ in written] == blocks
    assert all(size == len(data) for data, size in written)
