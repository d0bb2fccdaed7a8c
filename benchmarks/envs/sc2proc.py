"""StarCraft II environments hosted in one child process per package (smac or smacv2).

Why: smac and smacv2 both register pysc2 maps under the same names ("3m", ...), and pysc2 raises
``DuplicateMapError`` on the first map lookup once both packages are loaded in one process. The
harness itself therefore never imports either package: every environment of a package is built and
stepped in that package's host process (``python -m benchmarks.envs.sc2proc <package>``), and the
parent holds :class:`RemoteEnv` proxies with the smac API. A Ray worker or a ``bench run --no-ray``
that evaluates a smacv1 task and then a smacv2 task talks to two hosts and never mixes them.

A host lives as long as the process that started it (:func:`host` keeps one per package): it exits
when its stdin closes, closing its environments, so the StarCraft II instances of an evaluation worker
stay alive between evaluations (see ``SMACMaker.keep``). Messages are pickles over the child's
stdin/stdout; the child sends its own prints to stderr so they cannot corrupt the stream.
"""
from __future__ import annotations

import atexit
import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Optional

from algorithms import errors
from benchmarks.envs import smac, smacv2

PACKAGES = ("smac", "smacv2")


def factory(package: str, scenario: str):
    """seed -> environment of ``scenario`` (runs inside the host of ``package``)."""
    return (smac.v1_factory if package == "smac" else smacv2.v2_factory)(scenario)


def map_names(package: str, scenarios) -> list:
    """The ``SMAC_Maps/<name>.SC2Map`` files that ``scenarios`` of ``package`` load."""
    return [s if package == "smac" else smacv2.MAP_FILE for s in scenarios]


class Host:
    """One child process holding every environment of one package; :meth:`call` is a blocking RPC."""

    def __init__(self, package: str):
        if package not in PACKAGES:
            raise errors.UnknownNameError(f"unknown StarCraft package {package!r}: use one of {', '.join(PACKAGES)}")
        self.package = package
        root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
        self.proc = subprocess.Popen([sys.executable, "-m", "benchmarks.envs.sc2proc", package],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def call(self, *msg):
        try:
            pickle.dump(msg, self.proc.stdin)
            self.proc.stdin.flush()
            kind, value = pickle.load(self.proc.stdout)
        except (BrokenPipeError, EOFError):
            code = self.proc.wait()
            raise errors.DependencyError(
                f"the {self.package} host process exited (code {code}) while running {msg[0]}: its stderr above "
                f"says why") from None
        if kind == "ok":
            return value
        name, text = value
        cls = getattr(errors, name, None)
        if isinstance(cls, type) and issubclass(cls, errors.BenchError):
            raise cls(text)
        raise RuntimeError(f"{name} in the {self.package} host process: {text}")

    def make(self, scenario: str, seed: int) -> "RemoteEnv":
        return RemoteEnv(self, self.call("make", scenario, int(seed)))

    def close(self) -> None:
        if self.alive:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()


class RemoteEnv:
    """An environment in a :class:`Host` with smac's API (get_env_info, reset, get_obs, get_avail_actions,
    get_state, step, close); :meth:`attr` reads an attribute (e.g. smacv2's ``reward_scale_rate``)."""

    def __init__(self, host: Host, env_id: int):
        self.host, self.id = host, env_id

    def __getattr__(self, name):
        if name.startswith("_") or name in ("host", "id"):
            raise AttributeError(name)
        return lambda *args: self.host.call("call", self.id, name, args)

    def attr(self, name: str, default=None):
        return self.host.call("attr", self.id, name, default)

    def close(self) -> None:
        if self.host.alive:
            self.host.call("close", self.id)


_HOSTS: dict = {}


def host(package: str) -> Host:
    """This process's host of ``package`` (started on first use, restarted if it died)."""
    h = _HOSTS.get(package)
    if h is None or not h.alive:
        h = _HOSTS[package] = Host(package)
    return h


@atexit.register
def _close_hosts() -> None:
    for h in _HOSTS.values():
        h.close()


def serve(package: str, inp, out) -> None:
    """The child's loop: build environments of ``package`` and run calls on them until stdin closes."""
    envs: dict = {}
    next_id = 0
    while True:
        try:
            msg = pickle.load(inp)
        except EOFError:
            break
        try:
            if msg[0] == "make":
                _, scenario, seed = msg
                next_id += 1
                envs[next_id] = factory(package, scenario)(seed)
                value = next_id
            elif msg[0] == "call":
                _, i, name, args = msg
                value = getattr(envs[i], name)(*args)
            elif msg[0] == "attr":
                _, i, name, default = msg
                value = getattr(envs[i], name, default)
            elif msg[0] == "close":
                env = envs.pop(msg[1], None)
                value = env.close() if env is not None else None
            else:
                raise ValueError(f"unknown request {msg[0]!r}")
            reply = ("ok", value)
        except Exception as exc:  # reported to the parent, which raises it there
            reply = ("error", (type(exc).__name__, str(exc)))
        pickle.dump(reply, out)
        out.flush()
    for env in envs.values():
        try:
            env.close()
        except Exception:  # a crashed StarCraft II process: nothing left to close
            pass


def probe(package: str, scenarios, launch: bool = False) -> dict:
    """scenario -> ``get_env_info()`` of each environment, built in ``package``'s host; ``launch`` also resets
    the first one (starting StarCraft II: ``bench doctor --check-sc2``). Environments are closed after."""
    h = host(package)
    infos = {}
    for i, scenario in enumerate(scenarios):
        env: Optional[RemoteEnv] = h.make(scenario, 0)
        try:
            infos[scenario] = env.get_env_info()
            if launch and i == 0:
                env.reset()
        finally:
            env.close()
    return infos


if __name__ == "__main__":  # the host: python -m benchmarks.envs.sc2proc <package>
    stream_in, stream_out = sys.stdin.buffer, os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # prints of smac / pysc2 / StarCraft II go to stderr, not into the reply stream
    sys.stdout = sys.stderr
    serve(sys.argv[1], stream_in, stream_out)
