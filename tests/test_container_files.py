"""The container files: Dockerfile, .dockerignore, docker-compose.yml (with .env),
docker/requirements.txt and .ci/docker-smoke.

No Docker engine runs in CI, so they are checked by parsing them: the Dockerfile with
dockerfile-parse, the compose file with PyYAML. The image's health check is also run, as the
image would run it, against a real collector. `.ci/docker-smoke` does the real thing on a
machine with Docker.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import yaml
from dockerfile_parse import DockerfileParser
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from sqlalchemy.engine import make_url

from app.settings import Settings
from tests.collector_process import Collector, free_port

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE_FILE = ROOT / "docker-compose.yml"
COMPOSE_ENV_FILE = ROOT / ".env"
REQUIREMENTS = ROOT / "docker" / "requirements.txt"
SMOKE = ROOT / ".ci" / "docker-smoke"

PORT = 4318
COLLECTORS = ("spyglass", "spyglass-postgres")

Instruction = dict[str, Any]


# --- reading the files ---------------------------------------------------------------------


def instructions() -> list[Instruction]:
    return [
        i for i in DockerfileParser(path=str(DOCKERFILE)).structure if i["instruction"] != "COMMENT"
    ]


def stages() -> list[list[Instruction]]:
    """The instructions of each stage, each list starting with its FROM."""
    found: list[list[Instruction]] = []
    for instruction in instructions():
        if instruction["instruction"] == "FROM":
            found.append([])
        assert found, "the Dockerfile must start with FROM"
        found[-1].append(instruction)
    return found


def stage_name(stage: list[Instruction]) -> str | None:
    words = stage[0]["value"].split()
    return words[2] if len(words) == 3 and words[1].upper() == "AS" else None


def stage_chain(stage: list[Instruction]) -> list[list[Instruction]]:
    """The stage and the stages it is built FROM, oldest first."""
    named = {stage_name(s): s for s in stages() if stage_name(s)}
    parent = stage[0]["value"].split()[0]
    return [*stage_chain(named[parent]), stage] if parent in named else [stage]


def runtime_stage() -> list[Instruction]:
    return stages()[-1]


def of(stage: list[Instruction], name: str) -> list[Instruction]:
    return [i for i in stage if i["instruction"] == name]


def index_of(stage: list[Instruction], name: str, *words: str) -> int:
    """The position of the first `name` instruction whose value holds every one of `words`."""
    for position, instruction in enumerate(stage):
        if instruction["instruction"] == name and all(w in instruction["value"] for w in words):
            return position
    raise AssertionError(f"no {name} with {words} in the stage")


def image_env() -> dict[str, str]:
    """The ENV of the runtime stage, with what it inherits from the stages it is built on."""
    env: dict[str, str] = {}
    for stage in stage_chain(runtime_stage()):
        for instruction in of(stage, "ENV"):
            for pair in shlex.split(instruction["value"]):
                key, _, value = pair.partition("=")
                env[key] = value
    return env


def copy_sources(instruction: Instruction) -> list[str]:
    words = [w for w in shlex.split(instruction["value"]) if not w.startswith("--")]
    return words[:-1]


def healthcheck() -> tuple[str, list[str]]:
    """The HEALTHCHECK's options and its command, in exec form."""
    (instruction,) = of(runtime_stage(), "HEALTHCHECK")
    options, _, command = instruction["value"].partition("CMD")
    return options, json.loads(command)


def healthcheck_snippet() -> str:
    _, command = healthcheck()
    assert command[:2] == ["python", "-c"], command
    return command[2]


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def service(name: str) -> dict[str, Any]:
    return compose()["services"][name]


def interpolate(value: str) -> str:
    """Compose's `${NAME:-default}` and `${NAME}` as they read with none of them set."""
    return re.sub(r"\$\{\w+(:-([^}]*))?\}", lambda match: match.group(2) or "", value)


def published(service_config: dict[str, Any]) -> list[str]:
    """`host address:host port` of each published port (short syntax)."""
    found = []
    for mapping in service_config.get("ports", []):
        host_ip, host_port, container_port = interpolate(str(mapping)).rsplit(":", 2)
        found.append(f"{host_ip}:{host_port}->{container_port}")
    return found


def service_env(name: str) -> dict[str, str]:
    environment = service(name).get("environment", {})
    assert isinstance(environment, dict), "environment is written as a mapping"
    return {key: interpolate(str(value)) for key, value in environment.items()}


def active_services(profile: str | None) -> set[str]:
    """What `docker compose --profile <profile> up` starts: no profile, or that one."""
    return {
        name
        for name, config in compose()["services"].items()
        if not config.get("profiles") or profile in config["profiles"]
    }


def dockerignored(path: str) -> bool:
    """Whether .dockerignore keeps `path` out of the build context: the last pattern that
    matches the path, or one of its parent directories, decides."""
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    parts = Path(path).parts
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    excluded = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        glob = pattern.lstrip("!").strip("/")
        globs = [glob, glob.removeprefix("**/")] if glob.startswith("**/") else [glob]
        for candidate in candidates:
            names = [candidate, *([candidate.rsplit("/", 1)[-1]] if glob.startswith("**/") else [])]
            if any(fnmatch.fnmatchcase(n, g) for n in names for g in globs):
                excluded = not negated
    return excluded


def pins() -> dict[str, str]:
    found = {}
    for line in REQUIREMENTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            requirement = Requirement(line)
            specifiers = list(requirement.specifier)
            assert len(specifiers) == 1 and specifiers[0].operator == "==", line
            found[canonicalize_name(requirement.name)] = specifiers[0].version
    return found


def runtime_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = [*project["dependencies"], *project["optional-dependencies"]["postgres"]]
    return [Requirement(r) for r in declared]


def image_python() -> tuple[str, str]:
    """(`3.12`, `3.12.15`) from the base image's tag."""
    match = re.match(r"python:((\d+\.\d+)\.\d+)", stages()[0][0]["value"])
    assert match, "the base image is an official python image"
    return match.group(2), match.group(1)


# --- Dockerfile ----------------------------------------------------------------------------


def test_base_image_is_python_slim_pinned_to_a_patch_release():
    named = {stage_name(s) for s in stages()}
    bases = [s[0]["value"].split()[0] for s in stages() if s[0]["value"].split()[0] not in named]
    assert bases
    for base in bases:
        assert re.fullmatch(r"python:3\.\d+\.\d+-slim(-[a-z]+)?(@sha256:[0-9a-f]{64})?", base), base


def test_runtime_stage_runs_as_a_non_root_user_with_a_fixed_uid():
    name, uid = created_user()
    assert name != "root" and uid >= 1000
    users = of(runtime_stage(), "USER")
    assert users, "the runtime stage sets USER"
    assert users[-1]["value"].split(":")[0] in (name, str(uid))


def created_user() -> tuple[str, int]:
    """The name and uid of the user the runtime stage adds."""
    run = runtime_stage()[index_of(runtime_stage(), "RUN", "useradd")]["value"]
    command = shlex.split(run.split("useradd", 1)[1].split("&&", 1)[0])
    uid = command[command.index("--uid") + 1]
    return command[-1], int(uid)


def test_image_listens_on_all_interfaces_and_keeps_data_in_data():
    env = image_env()
    assert env["SPYGLASS_HOST"] == "0.0.0.0"
    assert env["SPYGLASS_DATA_DIR"] == "/data"


def test_image_sets_the_python_and_pip_environment():
    env = image_env()
    for name in ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "PIP_DISABLE_PIP_VERSION_CHECK"):
        assert env.get(name) == "1", name


def test_image_exposes_the_otlp_port():
    exposed = [word for i in of(runtime_stage(), "EXPOSE") for word in i["value"].split()]
    assert str(PORT) in exposed or f"{PORT}/tcp" in exposed


def test_data_volume_is_declared_after_it_is_given_to_the_user():
    stage = runtime_stage()
    volume = index_of(stage, "VOLUME", "/data")
    given = index_of(stage, "RUN", "chown", "/data")
    # Changes to a path after VOLUME declares it are thrown away.
    assert given < volume
    name, uid = created_user()
    owner = rf"({name}|{uid})"
    assert re.search(rf"chown {owner}(:{owner})? /data", stage[given]["value"])


def test_healthcheck_asks_healthz_at_an_interval_with_a_timeout_start_period_and_retries():
    options, _ = healthcheck()
    for option in ("--interval=", "--timeout=", "--start-period=", "--retries="):
        assert option in options
    assert "/healthz" in healthcheck_snippet()
    assert "SPYGLASS_PORT" in healthcheck_snippet()


def test_healthcheck_command_is_valid_python():
    compile(healthcheck_snippet(), "<HEALTHCHECK>", "exec")


@pytest.mark.e2e
def test_healthcheck_command_passes_against_a_collector_and_fails_without_one(tmp_path):
    collector = Collector(tmp_path / "data").start()
    try:
        alive = run_healthcheck(collector.port)
    finally:
        collector.stop()
    assert alive.returncode == 0, alive.stderr
    assert run_healthcheck(collector.port).returncode == 1


def run_healthcheck(port: int) -> subprocess.CompletedProcess[str]:
    # As Docker runs it, and behind a proxy that does not exist: the check must not use it.
    env = {
        **os.environ,
        "SPYGLASS_PORT": str(port),
        "http_proxy": f"http://127.0.0.1:{free_port()}",
    }
    command = [sys.executable, "-c", healthcheck_snippet()]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=30)


def test_dependencies_are_installed_before_the_collector_is_copied():
    stage = runtime_stage()
    copied = index_of(stage, "COPY", "docker/requirements.txt")
    installed = index_of(stage, "RUN", "pip install", "requirements.txt")
    collector = min(
        position
        for position, i in enumerate(stage)
        if i["instruction"] in ("COPY", "ADD") and "requirements.txt" not in i["value"]
    )
    assert copied < installed < collector


def test_collector_is_built_as_a_wheel_and_installed_without_dependencies():
    build = [s for s in stages() if any("pip wheel" in i["value"] for i in of(s, "RUN"))]
    assert build, "a stage builds the wheel"
    installed = runtime_stage()[index_of(runtime_stage(), "RUN", "pip install", ".whl")]
    assert "--no-deps" in installed["value"]
    assert "-e " not in installed["value"] and "--editable" not in installed["value"]


def test_build_copies_the_package_sources_before_building_the_wheel():
    (build,) = [s for s in stages() if any("pip wheel" in i["value"] for i in of(s, "RUN"))]
    copied = {source for i in of(build, "COPY") for source in copy_sources(i)}
    assert {"pyproject.toml", "README.md", "app", "templates", "migrations"} <= copied
    last_copy = max(n for n, i in enumerate(build) if i["instruction"] == "COPY")
    assert last_copy < index_of(build, "RUN", "pip wheel")


def test_pip_never_keeps_a_cache_in_a_layer():
    runs = [i["value"] for i in instructions() if i["instruction"] == "RUN"]
    pip_runs = [r for r in runs if re.search(r"pip (install|wheel)", r)]
    assert pip_runs
    for run in pip_runs:
        assert "--no-cache-dir" in run, run


def test_every_path_the_dockerfile_copies_exists():
    sources = [
        s
        for i in instructions()
        if i["instruction"] == "COPY" and "--from" not in i["value"]
        for s in copy_sources(i)
    ]
    assert sources
    for source in sources:
        assert (ROOT / source).exists(), source


def test_every_path_the_dockerfile_copies_is_in_the_build_context():
    for instruction in instructions():
        if instruction["instruction"] == "COPY" and "--from" not in instruction["value"]:
            for source in copy_sources(instruction):
                assert not dockerignored(source), source


def test_image_command_is_spyglass_serve():
    (command,) = of(runtime_stage(), "CMD")
    assert json.loads(command["value"]) == ["spyglass", "serve"]


# --- .dockerignore -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        ".git",
        ".venv",
        ".venv/bin/python",
        "tests",
        "bench",
        "test-artifacts",
        "instrumentation",
        ".env",
        ".pytest_cache",
        ".ruff_cache",
        "spyglass.db",
        "app/__pycache__",
        "app/__pycache__/main.cpython-312.pyc",
    ],
)
def test_dockerignore_keeps_out_of_the_build_context(path):
    assert dockerignored(path)


# --- docker/requirements.txt ---------------------------------------------------------------


def test_requirements_pin_every_runtime_dependency_to_a_version_it_accepts():
    pinned = pins()
    for requirement in runtime_requirements():
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{requirement.name} is not pinned in docker/requirements.txt"
        assert requirement.specifier.contains(pinned[name], prereleases=True), requirement


def test_requirements_pin_what_the_dependencies_pull_in():
    """Every requirement of a pinned package, with its markers evaluated as the image's Python
    would, is pinned too. The requirements are read from the metadata of the installed
    packages, so only those installed at their pinned version are looked at."""
    pinned = pins()
    short, full = image_python()
    image = {
        "python_version": short,
        "python_full_version": full,
        "sys_platform": "linux",
        "platform_system": "Linux",
        "implementation_name": "cpython",
    }
    wanted = {canonicalize_name(r.name): set(r.extras) for r in runtime_requirements()}
    checked, missing = [], []
    for name, version in pinned.items():
        if installed_version(name) != version:
            continue
        checked.append(name)
        for requirement in map(Requirement, metadata.requires(name) or []):
            extras = wanted.get(name, set()) | {""}
            marker = requirement.marker
            if marker and not any(marker.evaluate({**image, "extra": e}) for e in extras):
                continue
            if canonicalize_name(requirement.name) not in pinned:
                missing.append(f"{requirement.name} (for {name})")
    assert checked, "none of the pinned versions is installed: regenerate docker/requirements.txt"
    assert not missing


def installed_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


# --- docker-compose.yml and .env -----------------------------------------------------------


def test_default_collector_publishes_the_otlp_port_on_loopback_only():
    assert published(service("spyglass")) == [f"127.0.0.1:{PORT}->{PORT}"]


def test_default_collector_keeps_sqlite_in_a_named_volume_at_data():
    (mount,) = service("spyglass")["volumes"]
    volume, target = mount.split(":")
    assert target == "/data"
    assert volume in compose()["volumes"]


@pytest.mark.parametrize("name", COLLECTORS)
def test_collector_restarts_unless_stopped(name):
    assert service(name)["restart"] == "unless-stopped"


@pytest.mark.parametrize("name", COLLECTORS)
def test_collector_is_built_here_and_keeps_the_image_healthcheck(name):
    assert service(name)["build"] in (".", {"context": "."})
    assert "healthcheck" not in service(name), "the image's HEALTHCHECK applies"


def test_compose_up_without_a_profile_starts_the_sqlite_collector():
    assert "COMPOSE_PROFILES=sqlite" in COMPOSE_ENV_FILE.read_text().splitlines()
    assert active_services("sqlite") == {"spyglass"}


def test_postgres_profile_starts_postgres_and_its_collector_alone():
    assert active_services("postgres") == {"postgres", "spyglass-postgres"}


@pytest.mark.parametrize("profile", ["sqlite", "postgres"])
def test_each_profile_serves_on_the_otlp_port_once(profile):
    ports = [port for name in active_services(profile) for port in published(service(name))]
    assert ports == [f"127.0.0.1:{PORT}->{PORT}"]


def test_postgres_has_credentials_a_named_volume_and_a_pg_isready_healthcheck():
    postgres = service("postgres")
    assert postgres["image"].startswith("postgres:")
    assert {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"} <= set(postgres["environment"])
    (mount,) = postgres["volumes"]
    assert mount.split(":")[0] in compose()["volumes"]
    assert "pg_isready" in postgres["healthcheck"]["test"]
    assert "ports" not in postgres, "the database is reached on the project's network only"


def test_postgres_collector_waits_for_a_healthy_database():
    assert service("spyglass-postgres")["depends_on"] == {
        "postgres": {"condition": "service_healthy"}
    }


def test_postgres_collector_uses_psycopg_with_the_database_credentials():
    url = make_url(service_env("spyglass-postgres")["SPYGLASS_DATABASE_URL"])
    postgres = service("postgres")["environment"]
    assert url.drivername == "postgresql+psycopg"
    assert url.host == "postgres"
    assert (url.username, url.password, url.database) == (
        postgres["POSTGRES_USER"],
        postgres["POSTGRES_PASSWORD"],
        postgres["POSTGRES_DB"],
    )


def test_apps_reach_either_collector_as_spyglass():
    aliases = service("spyglass-postgres")["networks"]["default"]["aliases"]
    assert "spyglass" in aliases


@pytest.mark.parametrize("name", COLLECTORS)
def test_collector_settings_from_image_and_compose_are_valid(name, monkeypatch):
    for key, value in {**image_env(), **service_env(name)}.items():
        if key.startswith("SPYGLASS_"):
            monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.host == "0.0.0.0"
    assert settings.port == PORT
    assert settings.token is None or not settings.token.get_secret_value()
    # Bound to 0.0.0.0 the collector would answer any Host; compose names the ones it answers.
    assert settings.allowed_hosts and "*" not in settings.allowed_hosts
    assert {"localhost", "127.0.0.1", "spyglass"} <= set(settings.allowed_hosts)
    assert settings.resolved_database_url.startswith(
        "postgresql+psycopg://" if name == "spyglass-postgres" else "sqlite:////data/"
    )


# --- .ci/docker-smoke ----------------------------------------------------------------------


def test_docker_smoke_is_executable():
    assert SMOKE.stat().st_mode & stat.S_IXUSR
    assert SMOKE.read_text().startswith("#!/usr/bin/env bash\n")


def test_docker_smoke_passes_bash_syntax_check():
    result = subprocess.run(["bash", "-n", str(SMOKE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("script", ["run", "postgres", "docker-smoke"])
def test_ci_scripts_pass_shellcheck(script):
    # The README's test command installs shellcheck with the browser.
    assert shutil.which("shellcheck"), "shellcheck is not installed (apt-get install shellcheck)"
    path = ROOT / ".ci" / script
    result = subprocess.run(["shellcheck", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_docker_smoke_uses_paths_the_collector_serves(client):
    used = set(re.findall(r"\$base(/[\w/$]*)", SMOKE.read_text()))
    assert {"/v1/traces", "/api/v1/traces/$trace_id", "/healthz"} <= used
    served = set(client.get("/openapi.json").json()["paths"])
    for path in used:
        assert re.sub(r"\$(\w+)", r"{\1}", path) in served, path
