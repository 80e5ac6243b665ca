"""Per-item request options (header=, referer=, user-agent=, http-user= of an aria2c list, or
an Item's fields): they apply to that item only, under the batch's origin rules."""

from __future__ import annotations

from downloader import Item, download_all
from downloader.options import Options
from downloader.request import RequestPolicy

from .test_request import basic, headers_seen


def batch_policy(**options) -> RequestPolicy:
    return RequestPolicy.from_options(Options(netrc=False, **options))


# --- pure: RequestPolicy.for_item --------------------------------------------------------------


def test_an_item_without_request_options_shares_the_batch_policy():
    policy = batch_policy(headers=("X-A: 1",))
    assert policy.for_item(None) is policy
    assert policy.for_item(Item(url="http://h/x", name="n", mirrors=("http://m/x",))) is policy


def test_item_headers_add_to_the_batch_and_replace_same_named_ones():
    policy = batch_policy(
        headers=("X-A: batch", "x-b: batch", "Cookie: c=1"), user_agent="ua/batch", user="u:p"
    )
    own = policy.for_item(
        Item(url="http://h/x", headers=("X-B: item", "Authorization: Bearer T"), user_agent="ua/1")
    )
    assert dict(own.everywhere) == {"X-A": "batch", "User-Agent": "ua/1", "X-B": "item"}
    assert dict(own.origin_only) == {"Cookie": "c=1", "Authorization": "Bearer T"}
    assert own.user == policy.user  # the batch's --user, since the item has none
    assert dict(policy.everywhere)["x-b"] == "batch"  # the batch's own is untouched


def test_item_credentials_replace_the_batch_user():
    policy = batch_policy(user="batch:pw")
    own = policy.for_item(Item(url="http://h/x", user="alice:s3cret"))
    assert own.user == basic("alice", "s3cret")
    assert own.everywhere == () and own.origin_only == ()


def test_referer_star_is_each_request_url():
    policy = batch_policy(referer="http://batch.example/")
    own = policy.for_item(Item(url="http://h/x", referer="*"))
    assert own.referer_is_url
    assert "Referer" not in dict(own.everywhere)
    plain = own.for_item(Item(url="http://h/x", referer="http://r.example/"))
    assert not plain.referer_is_url and dict(plain.everywhere)["Referer"] == "http://r.example/"


# --- against servers --------------------------------------------------------------------------


async def test_item_headers_reach_only_that_items_requests(server, tmp_path):
    for name in ("a.bin", "b.bin"):
        server.add(name, b"x")
    items = [
        Item(
            url=server.url("a.bin"),
            headers=("X-Token: t1",),
            referer="http://ref.example/",
            user_agent="fetcher/9",
            user="alice:s3cret",
        ),
        server.url("b.bin"),
    ]

    batch = await download_all(items, tmp_path, netrc=False, headers=["X-Batch: yes"])

    assert batch.ok, batch.failed
    mine, other = headers_seen(server, "/a.bin"), headers_seen(server, "/b.bin")
    assert mine["X-Token"] == "t1" and mine["X-Batch"] == "yes"
    assert mine["Referer"] == "http://ref.example/" and mine["User-Agent"] == "fetcher/9"
    assert mine["Authorization"] == basic("alice", "s3cret")
    assert other["X-Batch"] == "yes"
    assert not {"X-Token", "Referer", "Authorization"} & set(other)
    assert other["User-Agent"].startswith("adl/")


async def test_item_secrets_go_to_each_mirror_but_never_to_a_redirect_elsewhere(
    server, elsewhere, tmp_path
):
    # The item's first URL 404s; its mirror redirects to another origin, which serves.
    elsewhere.add("real.bin", b"payload")
    server.redirect("m.bin", elsewhere.url("real.bin"))
    item = Item(
        url=server.url("gone.bin"),
        mirrors=(server.url("m.bin"),),
        headers=("Authorization: Bearer item-token", "X-Plain: 1"),
        user="alice:s3cret",
    )

    batch = await download_all([item], tmp_path, netrc=False)

    assert batch.ok, batch.failed
    assert batch[0].source == server.url("m.bin")
    for path in ("/gone.bin", "/m.bin"):  # each URL of the item is an origin of its own
        seen = headers_seen(server, path)
        assert seen["Authorization"] == "Bearer item-token"  # the explicit header wins
        assert seen["X-Plain"] == "1"
    away = headers_seen(elsewhere, "/real.bin")
    assert "Authorization" not in away
    assert away["X-Plain"] == "1"  # the plain headers follow redirects, as -H ones do
    assert (tmp_path / "m.bin").exists() is False  # named after the item's first URL
    assert (tmp_path / "gone.bin").read_bytes() == b"payload"


async def test_referer_star_sends_each_mirrors_own_url(server, tmp_path):
    server.add("m.bin", b"x")
    item = Item(url=server.url("gone.bin"), mirrors=(server.url("m.bin"),), referer="*")
    batch = await download_all([item], tmp_path, netrc=False, referer="http://batch/")
    assert batch.ok, batch.failed
    assert headers_seen(server, "/gone.bin")["Referer"] == server.url("gone.bin")
    assert headers_seen(server, "/m.bin")["Referer"] == server.url("m.bin")


async def test_an_item_with_a_bad_option_fails_alone(server, tmp_path):
    server.add("ok.bin", b"fine")
    items = [Item(url=server.url("x.bin"), headers=("no colon",)), server.url("ok.bin")]
    batch = await download_all(items, tmp_path, netrc=False)
    assert [r.ok for r in batch] == [False, True]
    assert batch[0].error == "header: header 'no colon' has no colon: write it as 'Name: value'"
    assert server.requests["x.bin"] == 0
