"""Start the real app as a subprocess, as `make run` (AppProcess) or `make run-prod` (ProductionAppProcess) does.

Each harness gets its own data dir, ports and SMTP server, so end-to-end tests
see what a merchant sees: the compiled frontend, the websocket, the backend
routes and the mounted sandbox emulators.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.servers import free_port

PROJECT_ROOT = Path(__file__).resolve().parents[2]
REFLEX = str(Path(sys.executable).with_name("reflex"))
STARTUP_TIMEOUT = 600


@dataclass
class AppProcess:
    data_dir: Path
    env_overrides: Mapping[str, str] = field(default_factory=dict)
    frontend_port: int = field(default_factory=free_port)
    backend_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def quiet_dir(self) -> Path:
        path = self.data_dir / "no-reload"
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def frontend_url(self) -> str:
        # "localhost", not 127.0.0.1: the session cookie is scoped to the host name.
        return f"http://localhost:{self.frontend_port}"

    @property
    def backend_url(self) -> str:
        return f"http://localhost:{self.backend_port}"

    def environment(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith(("OFFAMAZON_", "PYTEST_"))}
        env.update(
            OFFAMAZON_DATA_DIR=str(self.data_dir),
            OFFAMAZON_PUBLIC_URL=self.frontend_url,
            REFLEX_API_URL=self.backend_url,
            REFLEX_TELEMETRY_ENABLED="false",
            REFLEX_CHECK_LATEST_VERSION="false",
            # Watch an empty folder only: editing the code must not restart the app under a running test.
            REFLEX_HOT_RELOAD_OVERRIDE_PATHS=str(self.quiet_dir),
        )
        env.update(self.env_overrides)
        return env

    def start(self) -> None:
        env = self.environment()
        subprocess.run([REFLEX, "db", "migrate"], cwd=PROJECT_ROOT, env=env, check=True, capture_output=True)
        self.log_path = self.data_dir / "reflex.log"
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [
                REFLEX,
                "run",
                "--env",
                "dev",
                "--frontend-port",
                str(self.frontend_port),
                "--backend-port",
                str(self.backend_port),
            ],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._wait_until_serving()

    def _wait_until_serving(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"reflex run exited early:\n{self.log_tail()}")
            try:
                backend = httpx.get(f"{self.backend_url}/ping", timeout=2)
                frontend = httpx.get(self.frontend_url, timeout=5)
                if backend.status_code == 200 and frontend.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(1)
        raise RuntimeError(f"app did not start in {STARTUP_TIMEOUT}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 60) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


RUN_PROD = str(PROJECT_ROOT / "scripts" / "run-prod")


@dataclass(kw_only=True)
class ProductionAppProcess(AppProcess):
    """`make run-prod` (scripts/run-prod): migrations once, the emulators as one process of their own, then
    `reflex run --env prod` serving frontend and backend on one port with several workers, PostgreSQL and Redis.

    The production build goes to its own web directory, so it never touches the `.web` a dev app is serving.
    """

    database_url: str
    redis_url: str
    workers: int = 2
    job_worker_count: int = 1
    sandbox_port: int = field(default_factory=free_port)
    job_workers: list[subprocess.Popen[bytes]] = field(default_factory=list)  # `make worker`: imports run there

    def __post_init__(self) -> None:
        self.backend_port = self.frontend_port  # one port serves both

    @property
    def sandbox_url(self) -> str:
        """The emulators run-prod starts, unless the environment names others."""
        return self.env_overrides.get("OFFAMAZON_SANDBOX_URL", f"http://localhost:{self.sandbox_port}")

    def environment(self) -> dict[str, str]:
        env = super().environment()
        env.pop("REFLEX_HOT_RELOAD_OVERRIDE_PATHS")
        env.update(
            PORT=str(self.frontend_port),
            PUBLIC_URL=self.frontend_url,
            HOST="127.0.0.1",
            WORKERS=str(self.workers),
            SANDBOX_PORT=str(self.sandbox_port),
            REFLEX_DB_URL=self.database_url,
            REFLEX_REDIS_URL=self.redis_url,
            REFLEX_WEB_WORKDIR=str(self.data_dir / "web"),
            REFLEX_STATES_WORKDIR=str(self.data_dir / "states"),
            OFFAMAZON_JOB_ENGINE="procrastinate",
        )
        return env

    def start(self) -> None:
        self.log_path = self.data_dir / "run-prod.log"
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [RUN_PROD],
            cwd=PROJECT_ROOT,
            env=self.environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._wait_until_serving()
        for _ in range(self.job_worker_count):
            self.start_job_worker()

    def start_job_worker(self) -> subprocess.Popen[bytes]:
        """One more `make worker` process (also the replacement a supervisor would start for a dead one)."""
        with self.job_worker_log(len(self.job_workers)).open("wb") as worker_log:
            worker = subprocess.Popen(
                [sys.executable, "-m", "offamazon_ui.worker"],
                cwd=PROJECT_ROOT,
                env={**self.environment(), "OFFAMAZON_SANDBOX_URL": self.sandbox_url},
                stdout=worker_log,
                stderr=subprocess.STDOUT,
            )
        self.job_workers.append(worker)
        return worker

    def job_worker_log(self, index: int = 0) -> Path:
        return self.data_dir / f"job-worker-{index}.log"

    def backend_workers(self) -> list[int]:
        """PIDs of the backend's worker processes: the children of the `reflex run` process the script started."""
        assert self.process is not None
        supervisors = [pid for pid in _children(self.process.pid) if b"reflex" in _cmdline(pid)]
        return [pid for supervisor in supervisors for pid in _children(supervisor)]

    def stop(self) -> None:
        for worker in self.job_workers:
            if worker.poll() is None:
                worker.terminate()
                worker.wait(timeout=30)
        # The script stops the app and the emulators when it is told to stop; nothing may outlive it.
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def _children(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # the process ended meanwhile
            continue
        # "pid (command) state ppid ...": the command may contain spaces and parentheses.
        if int(stat.rpartition(")")[2].split()[1]) == pid:
            children.append(int(entry.name))
    return children


def _cmdline(pid: int) -> bytes:
    return Path(f"/proc/{pid}/cmdline").read_bytes()
