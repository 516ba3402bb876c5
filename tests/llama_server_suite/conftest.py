# Replaces llama.cpp's tools/server/tests/conftest.py in the scratch copy run.sh
# makes of the suite. Kept: the per-worker port and stopping every server after
# each test. Dropped: ServerPreset.load_all(), which starts every preset once to
# download its model from the Hugging Face hub (no network here; the shim points
# every preset at a local kvc-mkmodel model).
#
# Tests that depend on the text of llama.cpp's own test models (stories260K and
# the others: exact token counts of their tokenizer, words their weights write)
# are listed in model_dependent.txt; each gets a "model_dependent" marker and
# its reason, so a run can tell them apart (run.sh's summary) — none is skipped.
import os
import pytest
from utils import *

HERE = os.path.dirname(os.path.abspath(__file__))


def _model_dependent():
    path = os.environ.get("KVC_SUITE_MODEL_DEPENDENT", "")
    out = {}
    if path and os.path.exists(path):
        for line in open(path):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            test, _, why = line.partition("  ")
            out[test.strip()] = why.strip()
    return out


def pytest_configure(config):
    config.addinivalue_line("markers", "model_dependent(reason): depends on the text of llama.cpp's test model")


def pytest_collection_modifyitems(config, items):
    deps = _model_dependent()
    for item in items:
        name = item.name                 # test_x[params]
        base = name.split("[")[0]        # test_x
        why = deps.get(name) or deps.get(base)
        if why:
            item.add_marker(pytest.mark.model_dependent(why))
            item.user_properties.append(("model_dependent", why))


@pytest.fixture(scope="session", autouse=True)
def configure_worker_port(request):
    worker_id = getattr(request.config, "workerinput", {}).get("workerid", "master")
    if worker_id != "master":
        worker_num = int(worker_id[2:])
        os.environ["PORT"] = str(8080 + worker_num * 10)


@pytest.fixture(autouse=True)
def stop_server_after_each_test():
    yield
    for server in set(server_instances):
        server.stop()
