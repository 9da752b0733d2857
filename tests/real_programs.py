"""Real programs the streaming outputs are tested against: OBS Studio and Chromium, headless.

- :class:`ObsStudio` runs Debian's ``obs`` under its own Xvfb with its own HOME, its
  obs-websocket server on a free port with a password (the ``[OBSWebSocket]`` section of
  ``global.ini``, written before the first start: OBS 29 reads it there, and only the first
  such section counts). It can be killed and started again on the same port.
- :class:`Chromium` runs ``chromium --headless`` and drives one page over the DevTools
  protocol (a WebSocket, spoken with ``websocket-client``, which obsws-python brings): load a
  URL, evaluate script, take a screenshot with a transparent background.

:func:`missing` says why a program cannot run here. Tests skip with that reason on a
developer's machine, and fail under CI (``CI=true``), where the programs must be installed
(scripts/ensure_system_packages.sh).
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest


def missing(*programs: str) -> str | None:
    """Why ``programs`` cannot run here, or ``None``."""
    absent = [p for p in programs if shutil.which(p) is None]
    if absent:
        return f"{', '.join(absent)} not installed: run scripts/ensure_system_packages.sh (as root)"
    return None


def require(*programs: str) -> None:
    """Skip (fail under CI) when one of ``programs`` is not installed."""
    reason = missing(*programs)
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run this test: {reason}")
        pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, proc: subprocess.Popen, timeout_s: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
            raise RuntimeError(f"{what} exited with {proc.returncode} before listening on {port}\n{tail}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{what} did not listen on port {port} within {timeout_s:.0f} s")


class Xvfb:
    """A fresh Xvfb on a free display (``-displayfd``: the server picks it, so parallel runs never collide)."""

    def __init__(self, screen: str = "1280x720x24") -> None:
        read, write = os.pipe()
        self.proc = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write), "-screen", "0", screen, "-nolisten", "tcp"],
            pass_fds=(write,),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(write)
        with os.fdopen(read) as pipe:
            number = pipe.readline().strip()
        if not number:
            self.proc.kill()
            raise RuntimeError("Xvfb did not start")
        self.display = f":{number}"

    def stop(self) -> None:
        _stop(self.proc)


def _stop(proc: subprocess.Popen | None, sig: int = signal.SIGTERM) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


class ObsStudio:
    """OBS Studio with obs-websocket on ``port``, requiring ``password``. Call :meth:`start`."""

    def __init__(self, root: Path, password: str) -> None:
        self.root, self.password = Path(root), password
        self.port = free_port()
        self.home = self.root / "home"
        config = self.home / ".config" / "obs-studio"
        config.mkdir(parents=True, exist_ok=True)
        (config / "global.ini").write_text(
            "[General]\nFirstRun=true\n\n[OBSWebSocket]\nFirstLoad=false\nServerEnabled=true\n"
            f"ServerPort={self.port}\nAlertsEnabled=false\nAuthRequired=true\nServerPassword={password}\n"
        )
        self.url = f"ws://127.0.0.1:{self.port}"
        self.log = self.root / "obs.log"
        self._x = Xvfb()
        self.proc: subprocess.Popen | None = None

    def start(self, timeout_s: float = 90) -> ObsStudio:
        env = {k: v for k, v in os.environ.items() if k not in ("WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
        env.update(HOME=str(self.home), DISPLAY=self._x.display, LIBGL_ALWAYS_SOFTWARE="1")
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                ["obs", "--disable-shutdown-check", "--minimize-to-tray"],
                cwd=self.root,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_listening(self.port, self.proc, timeout_s, "OBS", self.log)
        return self

    def kill(self) -> None:
        """End OBS at once, as a crash would (no clean shutdown)."""
        _stop(self.proc, signal.SIGKILL)

    def stop(self) -> None:
        _stop(self.proc)
        self._x.stop()

    def client(self):
        """A fresh obs-websocket client of our own, to check what OBS holds."""
        import obsws_python as obs

        return obs.ReqClient(host="127.0.0.1", port=self.port, password=self.password, timeout=5)

    def input_text(self, name: str) -> str | None:
        """The ``text`` setting of input ``name`` (``None`` when OBS has no such input)."""
        from obsws_python.error import OBSSDKRequestError

        client = self.client()
        try:
            return client.send("GetInputSettings", {"inputName": name}, raw=True)["inputSettings"].get("text")
        except OBSSDKRequestError:
            return None
        finally:
            client.disconnect()


class Chromium:
    """Headless Chromium with one page, driven over the DevTools protocol."""

    def __init__(self, width: int = 800, height: int = 300) -> None:
        import websocket

        self._profile = tempfile.mkdtemp(prefix="livecc-chromium-")
        self.proc = subprocess.Popen(
            [
                "chromium",
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--mute-audio",
                "--disable-background-timer-throttling",
                "--disable-renderer-backgrounding",
                "--disable-backgrounding-occluded-windows",
                f"--user-data-dir={self._profile}",
                f"--window-size={width},{height}",
                "--remote-debugging-port=0",
                "--remote-allow-origins=*",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        port_file = Path(self._profile) / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError("Chromium did not start its DevTools server")
            time.sleep(0.1)
        port, path = port_file.read_text().split()[:2]
        # Through the browser's endpoint, on a tab of our own: the first tab's session can be
        # dropped while Chromium swaps it for the real about:blank.
        self._ws = websocket.create_connection(f"ws://127.0.0.1:{port}{path}", timeout=30, suppress_origin=True)
        self._ids = itertools.count(1)
        self._session: str | None = None
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self._session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.call("Page.enable")
        self.call("Runtime.enable")
        self.call("Emulation.setDefaultBackgroundColorOverride", color={"r": 0, "g": 0, "b": 0, "a": 0})

    def call(self, method: str, **params) -> dict:
        """One DevTools command and its result (events received meanwhile are dropped)."""
        ident = next(self._ids)
        message = {"id": ident, "method": method, "params": params}
        if self._session is not None:
            message["sessionId"] = self._session
        self._ws.send(json.dumps(message))
        while True:
            reply = json.loads(self._ws.recv())
            if reply.get("id") == ident:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def open(self, url: str) -> None:
        self.call("Page.navigate", url=url)
        self.evaluate("new Promise(r => document.readyState === 'complete' ? r(1) : addEventListener('load', r))")

    def evaluate(self, expression: str, timeout_s: float = 20):
        """The value of ``expression`` (awaited if a promise)."""
        result = self.call(
            "Runtime.evaluate",
            expression=expression,
            awaitPromise=True,
            returnByValue=True,
            timeout=int(timeout_s * 1000),
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, condition: str, timeout_s: float = 20):
        """Poll ``condition`` (a script expression) in the page until it is truthy; its value."""
        return self.evaluate(
            f"new Promise((ok, fail) => {{ const t0 = performance.now(); (function poll() {{"
            f" const v = ({condition}); if (v) return ok(v);"
            f" if (performance.now() - t0 > {timeout_s * 1000}) return fail(new Error('timed out: ' + "
            f"{json.dumps(condition)})); setTimeout(poll, 5); }})(); }})",
            timeout_s + 5,
        )

    def screenshot(self) -> bytes:
        """The page as PNG, transparent where nothing is drawn."""
        return base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])

    def close(self) -> None:
        ws = getattr(self, "_ws", None)
        if ws is not None:
            try:
                ws.close()
            except Exception:
                pass
        _stop(self.proc)
        shutil.rmtree(self._profile, ignore_errors=True)
