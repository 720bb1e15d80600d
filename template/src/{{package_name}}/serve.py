"""Serve step: the local champion behind MLflow's scoring protocol, for trying requests.

Databricks Model Serving answers requests with MLflow's scoring server; this runs the same server
in this process, so a payload that works here works against the endpoint: ``POST /invocations``
with ``dataframe_split`` or ``dataframe_records``, and ``GET /ping``. The server enforces the
model's signature: a request with a missing column, or a value its column's type cannot hold,
gets HTTP 400 with a message naming the column.

``@champion`` is resolved once, at start, as an endpoint pins a version: after a promotion or a
rollback, start the server again to serve the new champion.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import mlflow
from mlflow import MlflowClient
from mlflow.pyfunc import PyFuncModel

from .platform import Platform
from .registry import version_uri
from .score import champion_version

if TYPE_CHECKING:
    import uvicorn

# Never every interface: the local store has no authentication, and neither has this server.
LOCAL_HOST = "127.0.0.1"
STARTUP_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class ServedModel:
    """The version that answers the requests, loaded."""

    model_name: str
    version: str
    model: PyFuncModel


def load_champion(platform: Platform) -> ServedModel:
    """Load the version ``@champion`` points at now.

    Raises:
        NoChampionError: nothing has been promoted yet.

    """
    platform.configure_mlflow()
    name = platform.settings.registered_model_name
    version = champion_version(MlflowClient(), name)
    return ServedModel(name, version, mlflow.pyfunc.load_model(version_uri(name, version)))


@dataclass
class LocalServer:
    """MLflow's scoring app for one loaded model, on a socket of 127.0.0.1 bound in advance.

    Binding first lets port 0 pick a free port and the caller print the address before serving.
    """

    served: ServedModel
    listening: socket.socket
    _server: uvicorn.Server = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # MLflow's serving stack; imported here because the jobs' runtimes need not have it.
        import uvicorn
        from mlflow.pyfunc import scoring_server

        app = scoring_server.init(self.served.model)
        config = uvicorn.Config(app, log_level="warning", access_log=False)
        self._server = uvicorn.Server(config)

    @property
    def url(self) -> str:
        """Where the server answers, e.g. ``http://127.0.0.1:5000``."""
        host, port = self.listening.getsockname()
        return f"http://{host}:{port}"

    def run(self) -> None:
        """Serve until Ctrl-C or SIGTERM, then finish the requests under way and close.

        Raises:
            KeyboardInterrupt: after a clean stop by Ctrl-C (the server passes the signal on).

        """
        try:
            self._server.run(sockets=[self.listening])
        finally:
            self.listening.close()

    @contextmanager
    def in_background(self) -> Iterator[str]:
        """Serve from a thread within the block; yield the base URL once requests are answered."""
        server = self._server
        thread = threading.Thread(target=self.run, name="scoring-server", daemon=True)
        thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        try:
            while not server.started:
                if not thread.is_alive() or time.monotonic() > deadline:
                    raise RuntimeError(f"The scoring server at {self.url} did not start.")
                time.sleep(0.01)
            yield self.url
        finally:
            server.should_exit = True
            thread.join()


def open_server(platform: Platform, port: int) -> LocalServer:
    """Load the champion and bind 127.0.0.1:``port`` (0: any free port) to serve it.

    The project's local store is held only while the model loads, so the pipeline can run, and
    promote another version, while this one serves.
    """
    with platform.exclusive("serve"):
        served = load_champion(platform)
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listening.bind((LOCAL_HOST, port))
    except OSError:
        listening.close()
        raise
    return LocalServer(served, listening)
