"""Real processes for fault tests: a private PostgreSQL cluster, a private redis-server, and the app's
own processes (`flask …` commands, the web server) pointed at them.

Each service has its own port and directory under /tmp, so a test may stop, kill and restart it
without touching the shared servers other tests use. `PrivatePostgres.kill()` is
`pg_ctl stop -m immediate` (every backend dies at once, no checkpoint: what a crash looks like to a
client); `PrivateRedis.kill()` is SIGKILL. `AppProcess.kill()` is SIGKILL of a `flask` command.

When run as root (a container), PostgreSQL runs as the `postgres` user: initdb refuses root.
A missing binary fails the test under CI=true and skips it (with the reason) elsewhere.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Secrets the app processes and the test's own app share (player tokens are signed with SECRET_KEY).
SECRET_KEY = "fault-test-secret"
KEY_ENCRYPTION_SECRET = "fault-test-key-passphrase"
START_TIMEOUT = 60.0


def free_port() -> int:
    """A TCP port nobody listens on now (the kernel's choice)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def missing(what: str) -> None:
    """A service binary is not installed: fail under CI (nothing is skipped silently there), else skip."""
    message = f"{what} is not installed (scripts/test.sh installs it)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


def postgres_bin() -> Path | None:
    """The newest PostgreSQL server binaries (Debian: /usr/lib/postgresql/<version>/bin), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: [int(x) if x.isdigit() else x for x in Path(p).parts[-3].split(".")])
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


def wait_for(check, timeout: float, what: str, interval: float = 0.05):
    """Call `check` until it returns something true; AssertionError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what} after {timeout:.0f} s")
        time.sleep(interval)


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class PrivatePostgres:
    """A PostgreSQL cluster of its own: initdb'd under a temporary directory, trust auth, loopback only.

    `start()`, `stop(mode)` (pg_ctl modes: smart, fast, immediate), `kill()` (= stop -m immediate)
    and `restart()`; `url(dbname)` for SQLAlchemy; `create_database()`; `cleanup()` removes it all.
    `replicable=True` keeps full-page writes on so that `streaming_replica()` can copy it: a hot standby
    made by `pg_basebackup -R` on a port of its own, streaming from this cluster over loopback.
    """

    def __init__(self, port: int | None = None, *, replicable: bool = False,
                 base_backup_of: "PrivatePostgres | None" = None) -> None:
        self.bin = postgres_bin()
        if self.bin is None or not (self.bin / "pg_basebackup").exists():
            missing("PostgreSQL (initdb, pg_ctl, pg_basebackup)")
        self.port = port or free_port()
        self.as_user = None
        if os.geteuid() == 0:  # initdb and postgres refuse to run as root
            try:
                self.as_user = pwd.getpwnam("postgres")
            except KeyError:
                missing("the postgres system user (to run a private cluster as root)")
        # Not under pytest's tmp_path: that is private to root, and the server may run as postgres.
        self.root = Path(tempfile.mkdtemp(prefix="ma-faults-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        if self.as_user:
            os.chown(self.root, self.as_user.pw_uid, self.as_user.pw_gid)
        if base_backup_of is not None:
            # A copy of the running primary, its WAL streamed during the copy; -R writes standby.signal
            # and primary_conninfo, so it starts as a hot standby following the primary.
            self._run("pg_basebackup", "-D", str(self.data), "-h", "127.0.0.1", "-p", str(base_backup_of.port),
                      "-U", "postgres", "-X", "stream", "-R", "--checkpoint=fast", "--no-sync")
            settings = {"port": str(self.port), "unix_socket_directories": f"'{self.root}'", "hot_standby": "on"}
        else:
            self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--encoding=UTF8",
                      "--locale=C", "--no-sync")
            settings = {
                "listen_addresses": "'127.0.0.1'", "port": str(self.port),
                "unix_socket_directories": f"'{self.root}'", "max_connections": "40",
                "shared_buffers": "32MB", "fsync": "off",  # a stop -m immediate is not a power cut
                # pg_basebackup needs full-page writes (a replica replays torn pages from them).
                "full_page_writes": "on" if replicable else "off", "logging_collector": "off",
                "wal_level": "replica", "max_wal_senders": "4",
            }
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write("\n# private cluster for tests\n")
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())

    def _command(self, program: str, *args: str) -> list[str]:
        command = [str(self.bin / program), *args]
        if self.as_user:
            command = ["runuser", "-u", self.as_user.pw_name, "--", *command]
        return command

    def _run(self, program: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(self._command(program, *args), capture_output=True, text=True, cwd=self.root,
                                timeout=START_TIMEOUT + 30)
        if check and result.returncode:
            raise RuntimeError(f"{program} {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n"
                               f"{result.stderr}\n{_tail(self.log)}")
        return result

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{dbname}"

    def streaming_replica(self, port: int | None = None) -> "PrivatePostgres":
        """A hot standby of this (running, replicable) cluster, started: pg_basebackup -R into a directory
        of its own, on its own port. Its `cleanup()` is the caller's."""
        standby = PrivatePostgres(port, base_backup_of=self)
        try:
            standby.start()
        except Exception:
            standby.cleanup()
            raise
        return standby

    @property
    def running(self) -> bool:
        return self._run("pg_ctl", "-D", str(self.data), "status", check=False).returncode == 0

    def start(self) -> None:
        """Start and wait until it accepts connections."""
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", str(int(START_TIMEOUT)), "start")

    def stop(self, mode: str = "fast") -> None:
        """pg_ctl stop -m MODE and wait until the server is gone."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", str(int(START_TIMEOUT)), "stop")

    def kill(self) -> None:
        """Every backend ends at once, without a checkpoint (pg_ctl stop -m immediate)."""
        self.stop("immediate")

    def restart(self, down_seconds: float = 0.0, mode: str = "immediate") -> None:
        self.stop(mode)
        time.sleep(down_seconds)
        self.start()

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        """Run SQL with psql as the superuser; its output (tuples only, unaligned)."""
        return self._run("psql", "-X", "-q", "-A", "-t", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                         "-d", dbname, "-v", "ON_ERROR_STOP=1", "-c", sql).stdout.strip()

    def create_database(self, name: str, template: str | None = None) -> str:
        """A new database (a copy of `template` when given); its SQLAlchemy URL."""
        self.psql(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        return self.url(name)

    def cleanup(self) -> None:
        if self.data.exists() and self.running:
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


class PrivateRedis:
    """A redis-server of its own on a free port: `--save "" --appendonly no` unless `persist`, then an
    append-only file fsynced on every write (what a queue that must survive a restart needs).

    `start()`, `stop()` (SIGTERM: a clean shutdown), `kill()` (SIGKILL), `restart()`, `url(db)`.
    """

    def __init__(self, port: int | None = None, *, persist: bool = False) -> None:
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            missing("redis-server")
        self.port = port or free_port()
        self.persist = persist
        self.root = Path(tempfile.mkdtemp(prefix="ma-faults-redis-"))
        self.log = self.root / "redis.log"
        self.process: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def start(self) -> None:
        persistence = (["--appendonly", "yes", "--appendfsync", "always"] if self.persist
                       else ["--appendonly", "no"])
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", *persistence,
             "--dir", str(self.root), "--logfile", str(self.log), "--daemonize", "no"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for(lambda: self.ping() or self.process.poll() is not None, START_TIMEOUT, "redis-server to start")
        finally:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}:\n{_tail(self.log)}")

    def stop(self) -> None:
        """SIGTERM: redis-server shuts down cleanly (and keeps nothing unless `persist`)."""
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        self._signal(signal.SIGKILL)

    def restart(self, down_seconds: float = 0.0) -> None:
        self.stop()
        time.sleep(down_seconds)
        self.start()

    def _signal(self, signum: int) -> None:
        if self.running:
            self.process.send_signal(signum)
            self.process.wait(timeout=START_TIMEOUT)

    def cleanup(self) -> None:
        self.kill()
        shutil.rmtree(self.root, ignore_errors=True)


def app_environment(database_url: str, redis_url: str | None, **settings: str) -> dict[str, str]:
    """The environment of an app process in production shape (APP_ENV=prod, see config.ProdConfig)
    pointed at the given services; `settings` add or override variables (e.g. BEACON_QUEUE="off")."""
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("FLASK_", "DATABASE_", "REDIS_", "PYTEST_")) and name not in ("APP_ENV",)}
    env.update({
        "APP_ENV": "prod", "FLASK_APP": "wsgi.py", "PYTHONUNBUFFERED": "1",
        "SECRET_KEY": SECRET_KEY, "KEY_ENCRYPTION_SECRET": KEY_ENCRYPTION_SECRET,
        "DATABASE_URL": database_url,
    })
    if redis_url:
        env["REDIS_URL"] = redis_url
    env.update(settings)
    return env


def test_settings(database_url: str, redis_url: str | None, **overrides) -> dict:
    """create_app() settings for the test's own app on the same services and secrets as the processes."""
    return {"APP_ENV": "test", "SQLALCHEMY_DATABASE_URI": database_url, "REDIS_URL": redis_url,
            "SECRET_KEY": SECRET_KEY, "KEY_ENCRYPTION_SECRET": KEY_ENCRYPTION_SECRET, **overrides}


test_settings.__test__ = False  # a helper, not a test pytest should collect


class AppProcess:
    """One of the app's processes as a real subprocess (its own process group), output to a log file.

    `AppProcess.flask(["ingest", "drain"], env)` runs `flask ingest drain`; `AppProcess.web(env)` runs
    gunicorn on a free loopback port (`.url`). `stop()` sends SIGTERM and waits, `kill()` SIGKILL,
    `output()` is what it printed so far.
    """

    def __init__(self, command: list[str], env: dict[str, str], name: str) -> None:
        self.command, self.env, self.name = command, env, name
        self.root = Path(tempfile.mkdtemp(prefix=f"ma-faults-{name}-"))
        self.log = self.root / f"{name}.log"
        self.process: subprocess.Popen | None = None
        self.url: str | None = None
        self.starts = 0

    @classmethod
    def flask(cls, args: list[str], env: dict[str, str], name: str | None = None) -> "AppProcess":
        return cls([sys.executable, "-m", "flask", *args], env, name or "-".join(args[:2]))

    @classmethod
    def web(cls, env: dict[str, str], workers: int = 2, port: int | None = None) -> "AppProcess":
        port = port or free_port()
        process = cls([sys.executable, "-m", "gunicorn", "--workers", str(workers), "--bind", f"127.0.0.1:{port}",
                       "--graceful-timeout", "5", "--access-logfile", "-", "wsgi:app"], env, "web")
        process.url = f"http://127.0.0.1:{port}"
        return process

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int:
        return self.process.pid

    def start(self, wait_url: str | None = None) -> "AppProcess":
        """Start (again, after stop or kill: the log is appended to). For the web server, wait until it
        answers `wait_url` (default: /lti/jwks)."""
        self.starts += 1
        with open(self.log, "ab") as log:
            log.write(f"--- start {self.starts}: {' '.join(self.command)}\n".encode())
            log.flush()
            self.process = subprocess.Popen(self.command, env=self.env, cwd=ROOT, stdin=subprocess.DEVNULL,
                                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        if self.url:
            probe = self.url + (wait_url or "/lti/jwks")
            wait_for(lambda: self._answers(probe) or not self.running, START_TIMEOUT, f"{self.name} to answer")
            if not self.running:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.output()[-4000:]}")
        return self

    @staticmethod
    def _answers(url: str) -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return True
        except urllib.error.HTTPError:
            return True  # it answered
        except OSError:
            return False

    def _signal_group(self, signum: int) -> None:
        try:
            os.killpg(self.process.pid, signum)
        except ProcessLookupError:
            pass

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM to the process (group) and wait; SIGKILL after `timeout` seconds. Its exit code."""
        if not self.running:
            return self.process.returncode if self.process else None
        self._signal_group(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return self.process.returncode

    def kill(self) -> None:
        """SIGKILL to the process and its children (gunicorn's workers): no cleanup of any kind."""
        if self.process is None:
            return
        self._signal_group(signal.SIGKILL)
        self.process.wait(timeout=START_TIMEOUT)

    def wait(self, timeout: float) -> int:
        return self.process.wait(timeout=timeout)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def cleanup(self) -> None:
        if self.running:
            self.kill()
        shutil.rmtree(self.root, ignore_errors=True)


def run_flask(args: list[str], env: dict[str, str], timeout: float = 120.0) -> subprocess.CompletedProcess:
    """Run a `flask …` command to its end (e.g. `flask ingest failed`); stdout and stderr as text."""
    return subprocess.run([sys.executable, "-m", "flask", *args], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
