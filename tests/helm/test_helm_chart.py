"""The production Helm chart (helm/tsunagu), rendered offline.

Helm itself runs in-process through helm-python-sdk (Helm 4 as a library), so these tests need neither a
cluster nor a `helm` binary. Every rendered object is checked against the Kubernetes OpenAPI schemas shipped
with kubernetes-validate.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import helm_python
import kubernetes_validate
import pytest
import yaml

from tsunagu.config import Settings

CHART_DIR = Path(__file__).resolve().parents[2] / "helm" / "tsunagu"
PRODUCTION_VALUES = CHART_DIR / "examples" / "production-values.yaml"
KUBE_VERSION = kubernetes_validate.latest_version()
RELEASE = "tsunagu"
NAMESPACE = "tsunagu"

# Distinctive Secret names, so a leak into a ConfigMap would be visible.
FAKE_SECRETS = {
    "database": {"name": "zz-fake-app-db-secret", "key": "zz-app-url"},
    "migrationDatabase": {"name": "zz-fake-owner-db-secret", "key": "zz-owner-url"},
    "redis": {"name": "zz-fake-redis-secret", "key": "zz-redis-url"},
    "secretKey": {"name": "zz-fake-session-secret", "key": "zz-signing-key"},
    "auditHmacKey": {"name": "zz-fake-audit-secret", "key": "zz-audit-key"},
}
CREDENTIAL_URL = re.compile(r"[a-z][a-z0-9+.-]*://[^/@\s]*:[^/@\s]*@", re.IGNORECASE)
SECRET_ENV_NAMES = ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "AUDIT_HMAC_KEY")
# The writable scratch directory every container gets (the root filesystem is read-only).
SCRATCH_DIR = "/tmp"  # noqa: S108 - a path inside the pod, compared against the manifests


@pytest.fixture(scope="module")
def chart() -> helm_python.Chart:
    with helm_python.Chart.load(CHART_DIR) as loaded:
        yield loaded


def production_values() -> dict[str, Any]:
    return helm_python.values_from_yaml(PRODUCTION_VALUES.read_text(encoding="utf-8"))


def render(chart: helm_python.Chart, values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    manifests = chart.render(values or {}, name=RELEASE, namespace=NAMESPACE, is_install=True)
    objects: list[dict[str, Any]] = []
    for path, text in sorted(manifests.items()):
        if not path.endswith((".yaml", ".yml")):
            continue  # NOTES.txt
        objects.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return objects


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def named(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    matches = [o for o in by_kind(objects, kind) if o["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} {name}, got {len(matches)}"
    return matches[0]


def pod_specs(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Pod templates of every workload, by "Kind/name"."""
    return {
        f"{o['kind']}/{o['metadata']['name']}": o["spec"]["template"]["spec"]
        for o in objects
        if o["kind"] in ("Deployment", "Job", "StatefulSet", "DaemonSet")
    }


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return spec.get("initContainers", []) + spec["containers"]


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


@pytest.fixture(scope="module", params=["default", "production"])
def rendered(request: pytest.FixtureRequest, chart: helm_python.Chart) -> list[dict[str, Any]]:
    return render(chart, {} if request.param == "default" else production_values())


@pytest.fixture(scope="module")
def rendered_with_fake_secrets(chart: helm_python.Chart) -> list[dict[str, Any]]:
    return render(chart, {"secrets": FAKE_SECRETS})


# --- lint, render, Kubernetes schemas ------------------------------------------------------------------


@pytest.mark.parametrize("values_file", [None, PRODUCTION_VALUES], ids=["default", "production"])
def test_chart_lints_without_warnings(values_file: Path | None) -> None:
    values = production_values() if values_file else None
    report = helm_python.lint(CHART_DIR, values, strict=True, namespace=NAMESPACE)
    assert report["errors"] == []
    # Severity 1 is informational ("icon is recommended"); warnings and errors fail.
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


def test_every_rendered_object_is_a_valid_kubernetes_object(rendered: list[dict[str, Any]]) -> None:
    for obj in rendered:
        try:
            kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:  # pragma: no cover - the message is the point
            pytest.fail(f"{obj['kind']}/{obj['metadata']['name']}: {exc.message} at {list(exc.path)}")


def test_the_chart_renders_every_component(rendered: list[dict[str, Any]]) -> None:
    names = {(o["kind"], o["metadata"]["name"]) for o in rendered}
    expected = {
        ("ConfigMap", "tsunagu"),
        ("Deployment", "tsunagu-web"),
        ("Deployment", "tsunagu-worker"),
        ("Deployment", "tsunagu-beat"),
        ("Job", "tsunagu-migrate"),
        ("Service", "tsunagu-web"),
        ("Ingress", "tsunagu"),
        ("HorizontalPodAutoscaler", "tsunagu-web"),
        ("HorizontalPodAutoscaler", "tsunagu-worker"),
        ("PodDisruptionBudget", "tsunagu-web"),
        ("PodDisruptionBudget", "tsunagu-worker"),
        ("NetworkPolicy", "tsunagu-web"),
        ("ServiceAccount", "tsunagu"),
    }
    assert expected <= names
    assert by_kind(rendered, "Secret") == [], "the chart must never create secret values"


# --- the assertions ------------------------------------------------------------------------------


def test_beat_runs_exactly_one_replica_replaced_with_recreate(rendered: list[dict[str, Any]]) -> None:
    beat = named(rendered, "Deployment", "tsunagu-beat")
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"] == {"type": "Recreate"}
    hpa_targets = {h["spec"]["scaleTargetRef"]["name"] for h in by_kind(rendered, "HorizontalPodAutoscaler")}
    assert "tsunagu-beat" not in hpa_targets


def test_beat_replicas_cannot_be_configured(chart: helm_python.Chart) -> None:
    with pytest.raises(helm_python.HelmValuesError, match="replicas"):
        chart.validate_schema({"beat": {"replicas": 2}})


def test_migration_job_is_a_pre_install_and_pre_upgrade_hook(rendered: list[dict[str, Any]]) -> None:
    job = named(rendered, "Job", "tsunagu-migrate")
    annotations = job["metadata"]["annotations"]
    hooks = {h.strip() for h in annotations["helm.sh/hook"].split(",")}
    assert {"pre-install", "pre-upgrade"} <= hooks
    assert annotations["helm.sh/hook-delete-policy"]
    spec = job["spec"]["template"]["spec"]
    assert spec["restartPolicy"] == "Never"
    commands = [c["command"] + c.get("args", []) for c in containers(spec)]
    assert ["tsunagu", "db", "upgrade"] in commands
    # A pre-install hook cannot use the release's ServiceAccount (not created yet): it brings a hook one.
    account = named(rendered, "ServiceAccount", spec["serviceAccountName"])
    assert "pre-install" in account["metadata"]["annotations"]["helm.sh/hook"]
    assert int(account["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(
        annotations.get("helm.sh/hook-weight", "0")
    )


def test_every_container_is_locked_down_and_bounded(rendered: list[dict[str, Any]]) -> None:
    specs = pod_specs(rendered)
    assert {"Deployment/tsunagu-web", "Deployment/tsunagu-worker", "Deployment/tsunagu-beat"} <= set(specs)
    assert "Job/tsunagu-migrate" in specs
    assert specs["Job/tsunagu-migrate"].get("initContainers"), "init containers must be covered too"
    for workload, spec in specs.items():
        assert spec["automountServiceAccountToken"] is False, workload
        pod_sc = spec.get("securityContext", {})
        assert pod_sc.get("runAsNonRoot") is True, workload
        tmp_volumes = {v["name"] for v in spec["volumes"] if "emptyDir" in v}
        for container in containers(spec):
            where = f"{workload} container {container['name']}"
            sc = container["securityContext"]
            assert sc["runAsNonRoot"] is True, where
            assert sc["runAsUser"] == 10001, where
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["capabilities"]["drop"] == ["ALL"], where
            assert "add" not in sc["capabilities"], where
            assert sc["seccompProfile"]["type"] == "RuntimeDefault", where
            resources = container["resources"]
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(bound, {})), f"{where} lacks {bound}"
            tmp_mounts = [m for m in container["volumeMounts"] if m["mountPath"] == SCRATCH_DIR]
            assert len(tmp_mounts) == 1 and tmp_mounts[0]["name"] in tmp_volumes, f"{where}: no /tmp emptyDir"


def test_web_probes_point_at_healthz_and_readyz(rendered: list[dict[str, Any]]) -> None:
    web = named(rendered, "Deployment", "tsunagu-web")["spec"]["template"]["spec"]["containers"][0]
    assert web["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert web["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert web["livenessProbe"]["httpGet"]["port"] in ("http", 8000)
    assert {"name": "http", "containerPort": 8000, "protocol": "TCP"} in web["ports"]


def test_no_secret_value_reaches_a_configmap(rendered_with_fake_secrets: list[dict[str, Any]]) -> None:
    config_maps = by_kind(rendered_with_fake_secrets, "ConfigMap")
    assert config_maps
    fake_names = {s["name"] for s in FAKE_SECRETS.values()} | {s["key"] for s in FAKE_SECRETS.values()}
    for cm in config_maps:
        data = cm.get("data", {})
        for key, value in data.items():
            assert not any(secret in key for secret in SECRET_ENV_NAMES), f"{key} is in a ConfigMap"
            assert not CREDENTIAL_URL.search(str(value)), f"{key} holds a URL with credentials"
            assert not any(name in str(value) for name in fake_names), f"{key} mentions a Secret"
        assert "TSUNAGU_BASE_DOMAIN" in data


def test_secrets_are_read_from_the_named_secrets(rendered_with_fake_secrets: list[dict[str, Any]]) -> None:
    specs = pod_specs(rendered_with_fake_secrets)
    for workload, spec in specs.items():
        for container in containers(spec):
            for name, entry in env_of(container).items():
                if any(secret in name for secret in SECRET_ENV_NAMES):
                    assert "value" not in entry, f"{workload}: {name} must come from a Secret"
                    assert entry["valueFrom"]["secretKeyRef"]["name"].startswith("zz-fake-"), name


def test_the_config_refuses_a_url_with_credentials(chart: helm_python.Chart) -> None:
    values = {"config": {"extra": {"TSUNAGU_EXPORT_TARGET": "postgresql://app:hunter2@db/tsunagu"}}}
    with pytest.raises(helm_python.HelmRenderError, match="credentials"):
        render(chart, values)


@pytest.mark.parametrize("secret_key", ["TSUNAGU_DATABASE_URL", "TSUNAGU_SECRET_KEY"])
def test_the_schema_refuses_secrets_among_plain_settings(chart: helm_python.Chart, secret_key: str) -> None:
    with pytest.raises(helm_python.HelmValuesError, match=secret_key):
        chart.validate_schema({"config": {"extra": {secret_key: "x" * 40}}})


# --- who gets which database role -------------------------------------------------------------------------


def test_only_the_migration_job_receives_the_owner_database_url(
    rendered_with_fake_secrets: list[dict[str, Any]],
) -> None:
    owner = FAKE_SECRETS["migrationDatabase"]
    app = FAKE_SECRETS["database"]
    specs = pod_specs(rendered_with_fake_secrets)
    for workload, spec in specs.items():
        for container in containers(spec):
            env = env_of(container)
            owner_refs = [
                e
                for e in env.values()
                if e.get("valueFrom", {}).get("secretKeyRef", {}).get("name") == owner["name"]
            ]
            if workload == "Job/tsunagu-migrate":
                ref = env["TSUNAGU_MIGRATION_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
                assert ref == {"name": owner["name"], "key": owner["key"]}
                assert [e["name"] for e in owner_refs] == ["TSUNAGU_MIGRATION_DATABASE_URL"]
            else:
                assert "TSUNAGU_MIGRATION_DATABASE_URL" not in env, workload
                assert owner_refs == [], f"{workload} can read the owner role's Secret"
                for env_from in container.get("envFrom", []):
                    assert "secretRef" not in env_from, f"{workload} imports a whole Secret"
    for component in ("web", "worker", "beat"):
        spec = specs[f"Deployment/tsunagu-{component}"]
        env = env_of(spec["containers"][0])
        assert env["TSUNAGU_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
            "name": app["name"],
            "key": app["key"],
        }
        assert "TSUNAGU_REDIS_URL" in env and "TSUNAGU_SECRET_KEY" in env


@pytest.mark.parametrize("value", [None, ""], ids=["missing", "empty"])
def test_the_schema_rejects_values_without_a_database_secret_name(
    chart: helm_python.Chart, tmp_path: Path, value: str | None
) -> None:
    # `null` is how a values file removes a chart default (here the default Secret name).
    values_file = tmp_path / "values.yaml"
    values_file.write_text(
        yaml.safe_dump({"secrets": {"database": {"name": value, "key": "url"}}}), encoding="utf-8"
    )
    values = helm_python.values_from_yaml(values_file.read_text(encoding="utf-8"))
    with pytest.raises(helm_python.HelmValuesError) as excinfo:
        chart.validate_schema(values)
    message = str(excinfo.value)
    assert "/secrets/database" in message
    assert "name" in message
    # Rendering enforces the same schema.
    with pytest.raises(helm_python.HelmValuesError):
        render(chart, values)


def test_the_default_values_pass_the_schema(chart: helm_python.Chart) -> None:
    chart.validate_schema({})
    chart.validate_schema(production_values())


# --- behaviour worth pinning -------------------------------------------------------------------------------


def test_worker_shuts_down_softly_within_its_grace_period(rendered: list[dict[str, Any]]) -> None:
    spec = named(rendered, "Deployment", "tsunagu-worker")["spec"]["template"]["spec"]
    worker = spec["containers"][0]
    args = worker["args"]
    assert "--prefetch-multiplier=1" in args
    soft = next(a for a in args if a.startswith("worker.soft_shutdown_timeout="))
    assert spec["terminationGracePeriodSeconds"] > float(soft.split("=", 1)[1])
    assert env_of(worker)["REMAP_SIGTERM"]["value"] == "SIGQUIT"
    # Producers (TSUNAGU_CELERY_QUEUE) and the consumer agree on the queue.
    queue = named(rendered, "ConfigMap", "tsunagu")["data"]["TSUNAGU_CELERY_QUEUE"]
    assert f"--queues={queue}" in args


def test_web_runs_threaded_workers_whose_probes_answer_before_their_timeouts(
    rendered: list[dict[str, Any]],
) -> None:
    web = named(rendered, "Deployment", "tsunagu-web")["spec"]["template"]["spec"]["containers"][0]
    assert "--worker-class=gthread" in web["args"] and "--threads=4" in web["args"]
    # /readyz answers within 2 s (tsunagu.web.health), inside the probe's timeout.
    assert web["readinessProbe"]["timeoutSeconds"] > 2


def test_the_database_and_outbox_limits_reach_every_process(chart: helm_python.Chart) -> None:
    values = {"config": {"database": {"statementTimeoutSeconds": 7}, "outboxRedeliverSeconds": 15}}
    data = named(render(chart, values), "ConfigMap", "tsunagu")["data"]
    assert data["TSUNAGU_DB_STATEMENT_TIMEOUT_SECONDS"] == "7"
    assert data["TSUNAGU_DB_LOCK_TIMEOUT_SECONDS"] == "5"
    assert data["TSUNAGU_DB_CONNECT_TIMEOUT_SECONDS"] == "5"
    assert data["TSUNAGU_DB_IDLE_IN_TRANSACTION_TIMEOUT_SECONDS"] == "60"
    assert data["TSUNAGU_OUTBOX_REDELIVER_SECONDS"] == "15"
    assert data["TSUNAGU_OUTBOX_MAX_ATTEMPTS"] == "8"
    settings = Settings.from_env({**data, "TSUNAGU_ENV": "test"})  # the app accepts what the chart renders
    assert settings.db_statement_timeout_seconds == 7 and settings.outbox_redeliver_seconds == 15


def test_a_grace_period_shorter_than_the_soft_shutdown_is_refused(chart: helm_python.Chart) -> None:
    values = {"worker": {"softShutdownTimeoutSeconds": 120, "terminationGracePeriodSeconds": 60}}
    with pytest.raises(helm_python.HelmRenderError, match="terminationGracePeriodSeconds"):
        render(chart, values)


def test_ingress_serves_the_tenant_subdomains_and_the_apex(rendered: list[dict[str, Any]]) -> None:
    ingress = named(rendered, "Ingress", "tsunagu")
    base = named(rendered, "ConfigMap", "tsunagu")["data"]["TSUNAGU_BASE_DOMAIN"]
    hosts = {rule["host"] for rule in ingress["spec"]["rules"]}
    assert hosts == {base, f"*.{base}"}
    for tls in ingress["spec"].get("tls", []):
        assert set(tls["hosts"]) == hosts


def test_network_policies_limit_egress_to_declared_ports(chart: helm_python.Chart) -> None:
    objects = render(chart, production_values())
    policies = {p["metadata"]["name"]: p["spec"] for p in by_kind(objects, "NetworkPolicy")}
    for name, spec in policies.items():
        assert set(spec["policyTypes"]) == {"Ingress", "Egress"}, name
        for rule in spec["egress"]:
            assert rule.get("ports"), f"{name} has an egress rule open on every port"
    web_cidrs = {
        peer["ipBlock"]["cidr"]
        for r in policies["tsunagu-web"]["egress"]
        for peer in r.get("to", [])
        if "ipBlock" in peer
    }
    worker_cidrs = {
        peer["ipBlock"]["cidr"]
        for r in policies["tsunagu-worker"]["egress"]
        for peer in r.get("to", [])
        if "ipBlock" in peer
    }
    assert "203.0.113.0/24" in web_cidrs  # an identity provider
    assert "203.0.113.0/24" not in worker_cidrs
    assert {"10.20.0.0/24", "10.20.1.0/28"} <= web_cidrs & worker_cidrs  # PostgreSQL and Redis
    migrate_ports = {p["port"] for r in policies["tsunagu-migrate"]["egress"] for p in r["ports"]}
    assert migrate_ports == {53, 5432}
    web_ingress = policies["tsunagu-web"]["ingress"]
    assert len(web_ingress) == 1 and web_ingress[0]["from"][0]["namespaceSelector"]
    assert policies["tsunagu-worker"]["ingress"] == []


def test_fixed_replicas_are_used_when_autoscaling_is_off(chart: helm_python.Chart) -> None:
    values = {
        "web": {"autoscaling": {"enabled": False}, "replicas": 3},
        "worker": {"autoscaling": {"enabled": False}, "replicas": 4},
    }
    objects = render(chart, values)
    assert by_kind(objects, "HorizontalPodAutoscaler") == []
    assert named(objects, "Deployment", "tsunagu-web")["spec"]["replicas"] == 3
    assert named(objects, "Deployment", "tsunagu-worker")["spec"]["replicas"] == 4
    for hpa_managed in by_kind(render(chart), "Deployment"):
        if hpa_managed["metadata"]["name"] != "tsunagu-beat":
            assert "replicas" not in hpa_managed["spec"]  # the HPA owns the count


def test_a_mounted_master_key_is_referenced_not_inlined(chart: helm_python.Chart) -> None:
    objects = render(chart, {"masterKey": {"existingSecret": "tsunagu-master-key"}})
    data = named(objects, "ConfigMap", "tsunagu")["data"]
    assert data["TSUNAGU_MASTER_KEY_REF"] == "file:/var/run/secrets/tsunagu/master-key"
    web = named(objects, "Deployment", "tsunagu-web")["spec"]["template"]["spec"]
    volume = next(v for v in web["volumes"] if v["name"] == "master-key")
    assert volume["secret"]["secretName"] == "tsunagu-master-key"
    mount = next(m for m in web["containers"][0]["volumeMounts"] if m["name"] == "master-key")
    assert mount["readOnly"] is True


def test_tenant_client_secrets_are_mounted_as_files_in_the_web_pods_only(chart: helm_python.Chart) -> None:
    objects = render(
        chart,
        {
            "tenantSecrets": {
                "existingSecret": "tsunagu-oidc-clients",
                "mountPath": "/var/run/secrets/tsunagu-tenants",
                "tenants": [{"slug": "iwamizawa", "key": "iwamizawa"}, {"slug": "minami-urawa", "key": "mu"}],
            }
        },
    )
    assert (
        named(objects, "ConfigMap", "tsunagu")["data"]["TSUNAGU_SECRETS_DIR"]
        == "/var/run/secrets/tsunagu-tenants"
    )
    web = named(objects, "Deployment", "tsunagu-web")["spec"]["template"]["spec"]
    volume = next(v for v in web["volumes"] if v["name"] == "tenant-secrets")
    assert volume["secret"]["secretName"] == "tsunagu-oidc-clients"
    assert volume["secret"]["items"] == [
        {"key": "iwamizawa", "path": "iwamizawa/oidc_client_secret"},
        {"key": "mu", "path": "minami-urawa/oidc_client_secret"},
    ]
    mount = next(m for m in web["containers"][0]["volumeMounts"] if m["name"] == "tenant-secrets")
    assert mount["readOnly"] is True and mount["mountPath"] == "/var/run/secrets/tsunagu-tenants"
    for name, spec in pod_specs(objects).items():
        if name != "Deployment/tsunagu-web":
            assert all(v["name"] != "tenant-secrets" for v in spec.get("volumes", [])), name
    for o in objects:  # never as a value in any manifest, only referenced
        assert "TSUNAGU_OIDC_" not in yaml.safe_dump(o)


def test_without_tenant_secrets_nothing_is_mounted(chart: helm_python.Chart) -> None:
    objects = render(chart)
    assert named(objects, "ConfigMap", "tsunagu")["data"]["TSUNAGU_SECRETS_DIR"] == ""
    web = named(objects, "Deployment", "tsunagu-web")["spec"]["template"]["spec"]
    assert all(v["name"] != "tenant-secrets" for v in web["volumes"])


def test_a_tenant_secret_entry_must_name_a_slug(chart: helm_python.Chart) -> None:
    bad = {
        "tenantSecrets": {
            "existingSecret": "s",
            "mountPath": "/x",
            "tenants": [{"slug": "../etc", "key": "k"}],
        }
    }
    with pytest.raises(Exception, match="slug"):
        render(chart, bad)
