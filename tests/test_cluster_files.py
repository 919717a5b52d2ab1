"""cluster/: every launcher YAML passes Ray's validator, every KubeRay manifest the strict v1.7.0
schemas; a misspelled field fails them; the RayService serves the app of cluster/serve-local.yaml; the GPU
requests are computed right without a GPU."""

import copy
import gzip
import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from editor_rl.config import Config, PoolConfig, RLConfig

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = ROOT / "tests" / "data" / "kuberay"  # KubeRay v1.7.0 strict schemas (see its README)
LAUNCHERS = sorted(p for p in (ROOT / "cluster").glob("*.yaml") if p.name not in ("runtime_env.yaml", "serve-local.yaml"))  # `ray job submit`'s and `serve run`'s
MANIFESTS = sorted((ROOT / "cluster" / "kuberay").glob("*.yaml"))
KINDS = ("RayJob", "RayService", "RayCluster")


def _launcher_errors(config: dict) -> str:
    """Ray's own check of a cluster launcher config ('' when valid)."""
    from ray.autoscaler._private.util import prepare_config, validate_config

    try:
        validate_config(prepare_config(copy.deepcopy(config)))
    except (jsonschema.ValidationError, ValueError) as e:
        return str(e).splitlines()[0]
    except KeyError as e:  # prepare_config reads the provider's type before validating
        return f"missing {e}"
    return ""


def _kuberay_errors(doc: dict) -> list[str]:
    """The strict KubeRay schema's complaints about one manifest document."""
    schema = json.loads(gzip.decompress((SCHEMAS / f"{doc['kind']}.strict.schema.json.gz").read_bytes()))
    return [e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(doc)]


def _docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def test_the_cluster_folder_has_the_launchers_and_manifests_it_promises():
    assert {p.name for p in LAUNCHERS} >= {"aws.yaml", "local.yaml"}
    kinds = sorted(d["kind"] for p in MANIFESTS for d in _docs(p))
    assert kinds.count("RayJob") == 2 and kinds.count("RayService") == 1 and "PersistentVolumeClaim" in kinds
    assert (ROOT / "cluster" / "Dockerfile").is_file() and (SCHEMAS / "RayJob.strict.schema.json.gz").is_file()


@pytest.mark.parametrize("path", LAUNCHERS, ids=lambda p: p.name)
def test_launcher_yaml_passes_rays_validator_and_a_misspelling_fails_it(path):
    config = yaml.safe_load(path.read_text())
    assert _launcher_errors(config) == ""
    bad = copy.deepcopy(config)
    bad["max_worker"] = bad.pop("max_workers")
    assert "max_worker" in _launcher_errors(bad)
    bad = copy.deepcopy(config)
    bad["provider"]["typ"] = bad["provider"].pop("type")
    assert _launcher_errors(bad) != ""


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_kuberay_manifests_pass_the_strict_schemas_and_a_misspelling_fails_them(path):
    for doc in _docs(path):
        if doc["kind"] not in KINDS:
            continue
        assert _kuberay_errors(doc) == []
        bad = copy.deepcopy(doc)
        cluster = bad["spec"].get("rayClusterSpec") or bad["spec"]["rayClusterConfig"]
        cluster["workerGroupSpecs"][0]["maxReplica"] = cluster["workerGroupSpecs"][0].pop("maxReplicas")
        assert any("maxReplica" in e for e in _kuberay_errors(bad))


def test_manifests_keep_token_auth_the_ray_version_and_no_secret_in_the_file():
    import ray

    for path in MANIFESTS:
        text = path.read_text()
        assert "postgresql://" not in text.replace("postgresql://editor:…@", "") and "password" not in text.lower()
        for doc in _docs(path):
            if doc["kind"] in KINDS:
                cluster = doc["spec"].get("rayClusterSpec") or doc["spec"]["rayClusterConfig"]
                assert cluster["authOptions"]["mode"] == "token" and cluster["rayVersion"] == ray.__version__
                assert cluster["headGroupSpec"]["rayStartParams"]["dashboard-host"] == "127.0.0.1"
    assert f"rayproject/ray:{ray.__version__}-" in (ROOT / "cluster" / "Dockerfile").read_text()


def test_the_rayservice_serves_the_app_of_serve_local_yaml():
    (service,) = [d for d in _docs(ROOT / "cluster" / "kuberay" / "rayservice.yaml") if d["kind"] == "RayService"]
    served = yaml.safe_load(service["spec"]["serveConfigV2"])  # KubeRay does not check this string: we do
    local = yaml.safe_load((ROOT / "cluster" / "serve-local.yaml").read_text())
    (app,), (mine,) = served["applications"], local["applications"]
    assert {k: app[k] for k in ("name", "route_prefix", "import_path")} == {k: mine[k] for k in ("name", "route_prefix", "import_path")}
    assert set(mine["args"]) <= set(app["args"])
    from editor_rl.serving.deployments import ServeSettings

    ServeSettings(config=Config(), **app["args"])  # every arg is a ServeSettings field
    assert app["args"]["store"] == "env:EDITOR_RL_STORE"  # the URL comes from a Secret at run time
    env = {e["name"] for e in service["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]["spec"]["containers"][0]["env"]}
    assert {"EDITOR_RL_STORE", "EDITOR_RL_TOKEN"} <= env


def test_a_store_named_by_an_environment_variable(tmp_path, monkeypatch):
    from editor_rl.errors import StoreError
    from editor_rl.preferences.store import PreferenceStore

    monkeypatch.delenv("EDITOR_RL_TEST_STORE", raising=False)
    with pytest.raises(StoreError, match="EDITOR_RL_TEST_STORE is not set"):
        PreferenceStore("env:EDITOR_RL_TEST_STORE")
    monkeypatch.setenv("EDITOR_RL_TEST_STORE", str(tmp_path / "p.sqlite"))
    store = PreferenceStore("env:EDITOR_RL_TEST_STORE")
    assert store.backend == "sqlite" and store.path == tmp_path / "p.sqlite" and store.stats()["pairs"] == 0


@pytest.mark.parametrize("num_gpus, actors, cluster_gpus, want", [
    (0.25, 4, 0, 0.25), (0.0, 4, 8, 0.0),  # asked for: as asked
    (-1, 4, 1, 0.25), (-1, 3, 1, 1 / 3), (-1, 2, 4, 1.0), (-1, 4, 2, 0.5), (-1, 4, 0, 0.0), (-1, 4, 0.5, 0.0),  # auto: shared, every actor starts
])
def test_pool_actors_gpu_share(num_gpus, actors, cluster_gpus, want):
    from editor_rl.rewards.pool import actor_gpus, pool_bundle

    cfg = PoolConfig(num_gpus=num_gpus, num_actors=actors)
    share = actor_gpus(cfg, cluster_gpus=cluster_gpus)
    assert share == pytest.approx(want)
    assert share * actors <= max(cluster_gpus, num_gpus * actors) + 1e-9  # never more than the cluster (or the request) holds
    if num_gpus > 0:
        assert pool_bundle(cfg) == {"CPU": cfg.num_cpus * actors, "GPU": pytest.approx(num_gpus * actors)}


def test_a_tune_trial_reserves_the_pools_gpus_and_the_learners():
    from dataclasses import replace

    from editor_rl.apps.tune import _resources

    cfg = Config()
    cfg = replace(cfg, rl=replace(cfg.rl, reward_checkpoint="r.pt", learner_gpus=1.0), pool=replace(cfg.pool, num_gpus=0.25, num_actors=4))
    pgf = _resources(cfg)
    assert pgf.bundles[-1] == {"CPU": 4.0, "GPU": 1.0}  # four actors share one GPU
    assert pgf.required_resources.get("GPU") == pytest.approx(2.0)  # plus the learner's
    with pytest.raises(Exception, match="rl.learner_gpus"):
        RLConfig(learner_gpus=-2)


def test_bf16_falls_back_to_fp32_on_cpu(tiny_scorer, tmp_path, analyses):
    from editor_rl.editors.baselines import search_edit
    from editor_rl.rewards.model import load_scorer
    from editor_rl.rewards.sequence import edit_sequence

    path = tiny_scorer.save(tmp_path / "r.pt")
    bf16, fp32 = load_scorer(path, precision="bf16"), load_scorer(path, precision="fp32")
    assert bf16.precision == "fp32"  # no CUDA here: autocast is not used
    seqs = [edit_sequence(a, search_edit(a, target_seconds=0.5 * a.duration_s, config=Config()), target_seconds=0.5 * a.duration_s) for a in analyses[:3]]
    assert bf16.score(seqs)[0] == pytest.approx(fp32.score(seqs)[0])
