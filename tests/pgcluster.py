"""A throwaway PostgreSQL cluster for the test suite, on a unix socket in a temporary folder.

``initdb`` and ``postgres`` refuse to run as root, and CI runs as root: there the cluster runs
as the unprivileged ``postgres`` user that Debian's package creates.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

PORT = 54329


def find_bindir() -> Path:
    if pg_config := shutil.which("pg_config"):
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        candidate = Path(out.stdout.strip())
        if (candidate / "initdb").exists():
            return candidate
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if found:
        return Path(found[0]).parent
    if initdb := shutil.which("initdb"):
        return Path(initdb).resolve().parent
    raise RuntimeError(
        "PostgreSQL server binaries (initdb, pg_ctl) are missing: run `make test`, which "
        "installs Debian's postgresql package, or pass --db=sqlite."
    )


def _as_server_user(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


@dataclass
class Cluster:
    root: Path
    bindir: Path

    @property
    def socket_dir(self) -> str:
        return str(self.root)

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@/{database}?host={self.socket_dir}&port={PORT}"

    def conninfo(self, database: str = "postgres") -> str:
        return f"host={self.socket_dir} port={PORT} user=postgres dbname={database}"

    def stop(self) -> None:
        pg_ctl = str(self.bindir / "pg_ctl")
        subprocess.run(
            _as_server_user([pg_ctl, "stop", "-D", str(self.root / "data"), "-m", "immediate"]),
            capture_output=True,
            check=False,
        )
        shutil.rmtree(self.root, ignore_errors=True)


def start() -> Cluster:
    bindir = find_bindir()
    root = Path(tempfile.mkdtemp(prefix="counselor-pg-"))
    if os.geteuid() == 0:
        server = pwd.getpwnam("postgres")
        os.chown(root, server.pw_uid, server.pw_gid)
    root.chmod(0o700)
    data = root / "data"
    subprocess.run(
        _as_server_user(
            [
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ]
        ),
        check=True,
        capture_output=True,
    )
    # Durability is pointless for a cluster that lives as long as one test run.
    options = (
        f"-c listen_addresses='' -c unix_socket_directories={root} -p {PORT} "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    )
    subprocess.run(
        _as_server_user(
            [
                str(bindir / "pg_ctl"),
                "start",
                "-D",
                str(data),
                "-w",
                "-t",
                "60",
                "-l",
                str(root / "server.log"),
                "-o",
                options,
            ]
        ),
        check=True,
        capture_output=True,
    )
    return Cluster(root=root, bindir=bindir)
