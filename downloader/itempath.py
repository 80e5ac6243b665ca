"""Where an item's file goes below the output folder: `dir=` and `out=` of an aria2c list
(or `Item.subdir` and `Item.name`), as one relative path. Pure: nothing here touches the disk.

Both come from the list, that is from someone else, so:

- an absolute path, a `..` component or a NUL is refused (the item fails, naming the
  option): a list that asks for `/etc/x` or `../x` is wrong or hostile, and quietly writing
  somewhere else than asked would hide that. (aria2c takes `dir=` as any folder, absolute or
  relative to the current directory; adl keeps every file inside `-o`.)
- every other component goes through `naming.sanitize_name`, the one authority on names:
  `.hidden` becomes `hidden`, control characters go, `x.part` becomes `x.part_`, and so on.
  Empty and `.` components are dropped (`a//b/./c` is `a/b/c`).
- `out=` may hold folders too (`out=docs/a.pdf`); a trailing `/` (`out=docs/`) gives only
  folders, and the file keeps the name from its URL.

The result uses `/` between components; `is_clean_relative` is the last guard for such a
path wherever it is joined to the output folder.
"""

from __future__ import annotations

from .items import Item
from .naming import name_from_url, sanitize_name

FOLDER_FALLBACK = "_"  # a folder component that sanitizes to nothing ("...", say)


def path_problem(text: str) -> str | None:
    """Why `text` (a `dir=` or `out=` value) cannot be used below the output folder, or None."""
    if "\0" in text:
        return "contains a NUL character"
    if text.startswith("/"):
        return "is an absolute path: give a path relative to the output folder"
    if ".." in text.split("/"):
        return "contains '..': the file must stay inside the output folder"
    return None


def item_name(url: str, item: Item | None) -> str:
    """The journal name (a relative path) the file of `url` asks for: `item_path` of the
    item's `name` and `subdir`, or the URL's own name for a plain URL."""
    if item is None:
        return name_from_url(url)
    return item_path(url, item.name, item.subdir)


def item_path(url: str, name: str | None = None, subdir: str | None = None) -> str:
    """The relative path of an item's file: `subdir`'s folders, `name`'s folders, then the
    file name (`name`'s last component, else the URL's). Raises ValueError for a `name` or
    `subdir` that `path_problem` refuses."""
    if not name and not subdir:
        return name_from_url(url)
    for key, text in (("dir", subdir), ("out", name)):
        problem = text and path_problem(text)
        if problem:
            raise ValueError(f"{key}={text}: {problem}")
    folders = _components(subdir or "")
    named = (name or "").split("/")
    folders += _components("/".join(named[:-1]))
    url_name = name_from_url(url)
    file = sanitize_name(named[-1], fallback=url_name) if named[-1].strip() else url_name
    return "/".join([*(sanitize_name(f, fallback=FOLDER_FALLBACK) for f in folders), file])


def is_clean_relative(path: str) -> bool:
    """`path` names something strictly below a folder: no leading `/`, no empty, `.` or
    `..` component, no NUL. (What `item_path` makes always is; a journal edited by hand or a
    bug must still not lead outside.)"""
    if not path or "\0" in path:
        return False
    return all(part not in ("", ".", "..") for part in path.split("/"))


def in_folder_of(path: str, name: str | None) -> str | None:
    """`name` in the folder of `path` (a server's name for a file the list put in dir=)."""
    if name is None or "/" not in path:
        return name
    return f"{path.rpartition('/')[0]}/{name}"


def folders_of(path: str) -> list[str]:
    """The folder components of a relative path (all but the last)."""
    return path.split("/")[:-1]


def _components(text: str) -> list[str]:
    return [part for part in text.split("/") if part.strip() not in ("", ".")]
