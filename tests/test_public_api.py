"""The public surface: one door (`downloader.__all__`), and one set of option names and
defaults shared by `Options`, `download_all`, `iter_downloads` and the `adl get` flags."""

from __future__ import annotations

import dataclasses
import inspect
import types
from pathlib import Path

import pytest
import typer.main

import downloader
from downloader import cli
from downloader.options import OnExists, Options

ENTRY_POINTS = [downloader.download_all, downloader.iter_downloads]
# Library parameters that are not options of a batch's behaviour.
NOT_OPTIONS = {"urls", "dest", "on_event", "session"}
# CLI parameters that only the command line has (presentation, or the list argument).
CLI_ONLY = {"sources", "no_netrc", "json_lines", "output", "quiet", "debug", "no_journal"}


def option_fields() -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(Options)}


def test_all_is_sorted_and_unique():
    assert downloader.__all__ == sorted(downloader.__all__)
    assert len(set(downloader.__all__)) == len(downloader.__all__)


def test_every_name_in_all_is_importable():
    namespace: dict[str, object] = {}
    exec("from downloader import *", namespace)
    for name in downloader.__all__:
        assert getattr(downloader, name) is not None
        assert name in namespace


def test_all_is_complete():
    """Every public, non-module name of the package is listed in `__all__`."""
    public = {
        name
        for name, value in vars(downloader).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public <= set(downloader.__all__)


def test_the_version_is_a_string():
    assert isinstance(downloader.__version__, str)
    assert downloader.__version__.count(".") >= 1


def test_entry_points_are_async():
    assert inspect.iscoroutinefunction(downloader.download_all)
    # A plain function that checks its arguments at the call, then hands over an async
    # iterator (closable, so `aclosing` stops the transfers of a caller that breaks early).
    results = downloader.iter_downloads([], "never-created")
    assert hasattr(results, "__anext__") and hasattr(results, "aclose")
    assert not Path("never-created").exists()


def test_both_entry_points_have_the_same_signature():
    download, iterate = (inspect.signature(f) for f in ENTRY_POINTS)
    assert list(download.parameters) == list(iterate.parameters)
    for name, param in download.parameters.items():
        other = iterate.parameters[name]
        assert (param.kind, param.default) == (other.kind, other.default), name


@pytest.mark.parametrize("entry", ENTRY_POINTS, ids=lambda f: f.__name__)
def test_entry_point_options_match_the_options_dataclass(entry):
    params = inspect.signature(entry).parameters
    fields = option_fields()

    assert set(params) - NOT_OPTIONS == set(fields)
    for name, field in fields.items():
        assert params[name].default == field.default, name
        assert type(params[name].default) is type(field.default), name
    # `jobs` may be passed positionally (download_all(urls, "out", 5)); the rest are keyword-only.
    positional = [n for n, p in params.items() if p.kind is not inspect.Parameter.KEYWORD_ONLY]
    assert positional == ["urls", "dest", "jobs"]
    assert params["dest"].default == "."
    assert params["on_event"].default is None
    assert params["session"].default is None


def test_options_defaults_are_valid_and_names_are_listed():
    options = Options()
    assert options.on_exists is OnExists.SKIP
    assert Options.names() == frozenset(option_fields())


def test_options_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Options().jobs = 3  # type: ignore[misc]


def test_on_exists_accepts_strings_and_members():
    assert Options(on_exists="rename").on_exists is OnExists.RENAME
    assert Options(on_exists=OnExists.OVERWRITE).on_exists is OnExists.OVERWRITE
    assert {o.value for o in OnExists} == {"skip", "overwrite", "rename"}


def _cli_params() -> dict[str, object]:
    command = typer.main.get_command(cli.app).commands["get"]  # type: ignore[attr-defined]
    return {param.name: param for param in command.params}


def test_cli_defaults_match_the_options_dataclass():
    params = _cli_params()
    fields = option_fields()
    shared = (set(params) - CLI_ONLY) & set(fields)

    assert shared == set(params) - CLI_ONLY  # every behaviour flag is an Options field
    assert {"jobs", "retries", "timeout", "connect_timeout", "on_exists", "per_host"} <= shared
    for name in shared:
        # A repeatable flag defaults to "none given" (None), its field to an empty tuple.
        cli_default = params[name].default
        if cli_default is None and fields[name].default == ():
            cli_default = ()
        assert cli_default == fields[name].default, name
    # --no-netrc is the CLI's spelling of netrc=False.
    assert params["no_netrc"].default is (not fields["netrc"].default)
    # --no-journal is the CLI's spelling of resume=False.
    assert params["no_journal"].default is (not fields["resume"].default)


def test_cli_defaults_match_the_function_signature():
    """typer reads defaults from `cli.get`'s signature; both views must agree."""
    signature = inspect.signature(cli.get).parameters
    for name, param in _cli_params().items():
        if name == "sources":
            continue
        assert signature[name].default == param.default, name


def test_cli_output_default_is_the_library_dest_default():
    output = _cli_params()["output"].default
    assert Path(output) == Path(
        inspect.signature(downloader.download_all).parameters["dest"].default
    )


def test_misuse_exceptions_share_a_base():
    assert issubclass(downloader.OptionsError, downloader.AdlError)
    assert issubclass(downloader.OptionsError, ValueError)
    assert issubclass(downloader.JournalBusyError, downloader.AdlError)


def test_results_are_a_read_only_sequence():
    result = downloader.Result("http://127.0.0.1/x", downloader.State.DONE, bytes=3)
    failed = downloader.Result("http://127.0.0.1/y", downloader.State.FAILED, error="HTTP 404")
    skipped = downloader.Result("http://127.0.0.1/z", downloader.State.SKIPPED)
    batch = downloader.BatchResult((result, failed, skipped))

    assert len(batch) == 3
    assert batch[1] is failed
    assert list(batch) == [result, failed, skipped]
    assert not batch.ok
    assert batch.failed == [failed]
    assert batch.done == [result]
    assert batch.skipped == [skipped]
    assert result.ok and skipped.ok and not failed.ok
    assert downloader.BatchResult((result, skipped)).ok
    assert downloader.BatchResult().ok  # nothing to do is not a failure
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.bytes = 4  # type: ignore[misc]


def test_event_handler_protocol_accepts_a_plain_callable():
    seen: list[downloader.Event] = []
    handler: downloader.EventHandler = seen.append
    handler(downloader.Notice("hello"))
    assert seen == [downloader.Notice("hello")]
