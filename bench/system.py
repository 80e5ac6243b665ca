"""Finding the system programs the harness needs, installing them with apt-get when root."""

from __future__ import annotations

import os
import shutil
import subprocess

# Debian puts nginx in /usr/sbin, which is not on every user's PATH.
SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])


def find_binary(name: str) -> str | None:
    return shutil.which(name, path=SEARCH_PATH)


def ensure_binary(name: str, package: str, log) -> str | None:
    """Path of NAME; installs PACKAGE with apt-get when missing and running as root."""
    found = find_binary(name)
    if found or os.geteuid() != 0 or not find_binary("apt-get"):
        return found
    log(f"{name} missing: apt-get install -y {package}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", package], check=True, env=env)
    return find_binary(name)
