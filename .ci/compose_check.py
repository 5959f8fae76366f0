#!/usr/bin/env python3
"""Checks docker-compose.yml without a Docker engine: the structure the Compose specification allows
(top-level and service keys, interpolation syntax, healthchecks, named volumes) and what Tessera needs
(PostgreSQL healthy before Tessera starts, the database URL and bootstrap admin from the environment,
port 9497, only configuration variables Tessera knows). Exit 1 with one line per problem."""

import pathlib
import re
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
TOP_KEYS = {"name", "services", "volumes", "networks", "configs", "secrets", "include", "version"}
SERVICE_KEYS = {
    "build", "command", "container_name", "depends_on", "entrypoint", "env_file", "environment",
    "expose", "healthcheck", "image", "labels", "networks", "ports", "restart", "stop_grace_period",
    "stop_signal", "user", "volumes", "working_dir", "read_only", "tmpfs", "logging", "deploy",
}
HEALTHCHECK_KEYS = {"test", "interval", "timeout", "retries", "start_period", "start_interval", "disable"}
RESTART = {"no", "always", "on-failure", "unless-stopped"}
DURATION = re.compile(r"^(\d+(\.\d+)?(us|ms|s|m|h))+$")
INTERPOLATION = re.compile(r"\$(\$|\{[A-Za-z_][A-Za-z0-9_]*((:?[-?+])[^}]*)?\}|[A-Za-z_][A-Za-z0-9_]*)")
# The logging variables Tessera reads besides the configuration keys (OTHER_VARIABLES, src/config.rs).
EXTRA_ENV = {"TESSERA_LOG_LEVEL", "TESSERA_LOG_FORMAT"}

problems = []


def problem(message):
    problems.append(message)


def config_keys():
    """The fields of `pub struct Config` in src/config.rs (Tessera's keys), as TESSERA_* names."""
    source = (ROOT / "src" / "config.rs").read_text()
    block = re.search(r"pub struct Config \{(.*?)\n\}", source, re.S)
    if not block:
        problem("cannot find pub struct Config in src/config.rs")
        return set()
    return {"TESSERA_" + key.upper() for key in re.findall(r"^\s*pub ([a-z_]+):", block.group(1), re.M)}


def check_interpolation(where, value):
    if isinstance(value, dict):
        for key, item in value.items():
            check_interpolation(f"{where}.{key}", item)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_interpolation(f"{where}[{index}]", item)
    elif isinstance(value, str):
        stripped = INTERPOLATION.sub("", value)
        if "$" in stripped:
            problem(f"{where}: malformed variable interpolation in {value!r}")


def as_mapping(where, value):
    """environment/depends_on may be a list or a mapping: normalise to a dict."""
    if isinstance(value, dict):
        return value
    if isinstance(value, list):
        result = {}
        for item in value:
            key, _, val = str(item).partition("=")
            result[key] = val
        return result
    problem(f"{where}: must be a list or a mapping")
    return {}


def check_healthcheck(where, healthcheck):
    if not isinstance(healthcheck, dict):
        problem(f"{where}: must be a mapping")
        return
    for key in set(healthcheck) - HEALTHCHECK_KEYS:
        problem(f"{where}: unknown key {key}")
    test = healthcheck.get("test")
    if not (isinstance(test, list) and test and test[0] in ("CMD", "CMD-SHELL", "NONE")) and not isinstance(test, str):
        problem(f"{where}.test: must be a string or a list starting with CMD or CMD-SHELL")
    for key in ("interval", "timeout", "start_period", "start_interval"):
        if key in healthcheck and not DURATION.match(str(healthcheck[key])):
            problem(f"{where}.{key}: not a duration: {healthcheck[key]!r}")
    if "retries" in healthcheck and not isinstance(healthcheck["retries"], int):
        problem(f"{where}.retries: must be an integer")


def main():
    path = ROOT / "docker-compose.yml"
    compose = yaml.safe_load(path.read_text())
    if not isinstance(compose, dict):
        print(f"{path}: not a mapping", file=sys.stderr)
        return 1
    check_interpolation("compose", compose)
    for key in set(compose) - TOP_KEYS:
        problem(f"unknown top-level key {key}")
    services = compose.get("services") or {}
    volumes = compose.get("volumes") or {}
    for name, service in services.items():
        where = f"services.{name}"
        if not isinstance(service, dict):
            problem(f"{where}: must be a mapping")
            continue
        for key in set(service) - SERVICE_KEYS:
            problem(f"{where}: unknown or unexpected key {key}")
        if "image" not in service and "build" not in service:
            problem(f"{where}: needs image or build")
        if "restart" in service and service["restart"] not in RESTART and not str(service["restart"]).startswith("on-failure:"):
            problem(f"{where}.restart: {service['restart']!r}")
        if "healthcheck" in service:
            check_healthcheck(f"{where}.healthcheck", service["healthcheck"])
        for mount in service.get("volumes", []):
            source = str(mount).split(":", 1)[0]
            if source and not source.startswith((".", "/", "~", "$")) and source not in volumes:
                problem(f"{where}.volumes: named volume {source} is not declared at the top level")
        for dependency, condition in as_mapping(f"{where}.depends_on", service.get("depends_on", {})).items():
            if dependency not in services:
                problem(f"{where}.depends_on: no service {dependency}")
            if isinstance(condition, dict):
                wanted = condition.get("condition")
                if wanted not in ("service_started", "service_healthy", "service_completed_successfully"):
                    problem(f"{where}.depends_on.{dependency}: condition {wanted!r}")
                if wanted == "service_healthy" and "healthcheck" not in services.get(dependency, {}):
                    problem(f"{where}.depends_on.{dependency}: service_healthy but it has no healthcheck")

    postgres = services.get("postgres")
    tessera = services.get("tessera")
    if not postgres or not str(postgres.get("image", "")).startswith("postgres:"):
        problem("services.postgres: must use the official postgres image")
    elif "healthcheck" not in postgres:
        problem("services.postgres: needs a healthcheck")
    elif not any(str(v).split(":", 1)[0] in volumes for v in postgres.get("volumes", [])):
        problem("services.postgres: its data must live in a named volume")
    else:
        # The Unix socket answers during the image's first-start initialisation, TCP does not.
        test = postgres["healthcheck"].get("test")
        if not re.search(r"pg_isready\b.*\s-h\s*127\.0\.0\.1\b", " ".join(map(str, test)) if isinstance(test, list) else str(test)):
            problem("services.postgres.healthcheck: must probe over TCP (pg_isready -h 127.0.0.1)")
    if not tessera:
        problem("services.tessera: missing")
    else:
        depends = as_mapping("services.tessera.depends_on", tessera.get("depends_on", {}))
        if not (isinstance(depends.get("postgres"), dict) and depends["postgres"].get("condition") == "service_healthy"):
            problem("services.tessera: must depend on postgres being service_healthy")
        env = as_mapping("services.tessera.environment", tessera.get("environment", {}))
        for required in ("TESSERA_DATABASE_URL", "TESSERA_TOKEN_SECRET", "TESSERA_BOOTSTRAP_USERNAME", "TESSERA_BOOTSTRAP_PASSWORD"):
            if required not in env:
                problem(f"services.tessera.environment: {required} missing")
        if not str(env.get("TESSERA_DATABASE_URL", "")).startswith("postgres://"):
            problem("services.tessera.environment: TESSERA_DATABASE_URL must be a postgres:// URL")
        # Behind the container bridge every client comes from the gateway: without a trusted proxy
        # count, one client's failed logins would hold back everybody's.
        if "TESSERA_NUM_PROXIES" not in env:
            problem("services.tessera.environment: TESSERA_NUM_PROXIES missing (README, Deployment)")
        # OCI-format images (podman's default) drop the Dockerfile's HEALTHCHECK.
        health = tessera.get("healthcheck")
        if not (isinstance(health, dict) and "healthcheck" in " ".join(map(str, health.get("test") or []))):
            problem("services.tessera: needs its own healthcheck running `tessera healthcheck`")
        known = config_keys() | EXTRA_ENV
        for key in env:
            if key.startswith("TESSERA_") and key not in known:
                problem(f"services.tessera.environment: {key} is not a Tessera setting")
        if "127.0.0.1:9497:9497" not in [str(p) for p in tessera.get("ports", [])]:
            problem("services.tessera.ports: must publish 127.0.0.1:9497:9497 (loopback only)")
        for secret in ("TESSERA_TOKEN_SECRET", "TESSERA_BOOTSTRAP_PASSWORD"):
            if ":?" not in str(env.get(secret, "")):
                problem(f"services.tessera.environment: {secret} must be required (${{{secret}:?...}}), never defaulted")
        dockerfile = (ROOT / "Dockerfile").read_text()
        if not re.search(r"^EXPOSE\s+9497\b", dockerfile, re.M):
            problem("Dockerfile: must EXPOSE 9497")
        # A syntax directive makes every build fetch a frontend image; Docker 23+ needs none.
        if re.search(r"^#\s*syntax\s*=", dockerfile, re.M | re.I):
            problem("Dockerfile: no `# syntax=` directive (it fetches a frontend image at every build)")
        # VOLUME leaves an anonymous volume behind at every down/up, also on PostgreSQL.
        if re.search(r"^\s*VOLUME\b", dockerfile, re.M | re.I):
            problem("Dockerfile: no VOLUME (it orphans an anonymous volume at every down/up)")
    for message in problems:
        print(f"docker-compose.yml: {message}", file=sys.stderr)
    if not problems:
        print(f"docker-compose.yml: ok ({len(services)} services)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
