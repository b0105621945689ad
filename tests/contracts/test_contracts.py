"""The JSON Schemas are the source of truth; the C validator must agree with
an independent JSON Schema validator (python3-jsonschema) on every sample."""
import json
import os
import pathlib
import subprocess

import pytest
import yaml
from jsonschema import Draft202012Validator, RefResolver

ROOT = pathlib.Path(__file__).resolve().parents[2]
CONTRACTS = ROOT / "contracts"
SAMPLES = pathlib.Path(__file__).parent / "samples"
TOPICS = ["orders.created", "orders.events", "payments.completed", "inventory.updated",
          "notifications.events", "orders.audit", "analytics.aggregates"]
OP_BIN = os.environ.get("OP_BIN", "")


def validator(topic):
    store = {p.name: json.loads(p.read_text()) for p in CONTRACTS.glob("*.schema.json")}
    schema = store[f"{topic}.schema.json"]
    resolver = RefResolver(base_uri=f"{topic}.schema.json", referrer=schema, store=store)
    return Draft202012Validator(schema, resolver=resolver)


def schema_accepts(topic, data):
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return False
    if b'"event_id"' in data and data.count(b'"event_id"') > 1:
        return False  # duplicate keys: json.loads keeps the last; the contract forbids them
    return validator(topic).is_valid(doc)


def samples(topic, kind):
    folder = SAMPLES / topic / kind
    return sorted(p for p in folder.glob("*.json")) if folder.exists() else []


@pytest.mark.parametrize("topic", TOPICS)
def test_schema_is_valid(topic):
    Draft202012Validator.check_schema(json.loads((CONTRACTS / f"{topic}.schema.json").read_text()))


@pytest.mark.parametrize("topic", [t for t in TOPICS if (SAMPLES / t).exists()])
def test_samples_against_schema(topic):
    assert samples(topic, "good") or samples(topic, "bad")
    for path in samples(topic, "good"):
        assert schema_accepts(topic, path.read_bytes()), path.name
    for path in samples(topic, "bad"):
        assert not schema_accepts(topic, path.read_bytes()), path.name


def test_asyncapi_lists_every_topic_with_existing_schemas():
    doc = yaml.safe_load((CONTRACTS / "asyncapi.yaml").read_text())
    assert set(doc["channels"]) == set(TOPICS)
    for name, msg in doc["components"]["messages"].items():
        ref = msg["payload"]["$ref"]
        assert (CONTRACTS / ref).exists(), f"{name}: {ref}"
    for topic, channel in doc["channels"].items():
        ref = channel["subscribe"]["message"]["$ref"].split("/")[-1]
        assert ref in doc["components"]["messages"], topic
    assert ".dlq" in doc["info"]["description"]


def test_enough_orders_events_samples():
    assert len(samples("orders.events", "good")) >= 10
    assert len(samples("orders.events", "bad")) >= 20


@pytest.mark.skipif(not OP_BIN or not os.path.exists(OP_BIN), reason="OP_BIN is not set")
def test_c_validator_agrees_with_schema():
    expected = json.loads((SAMPLES / "orders.events/bad/expected.json.manifest").read_text())
    paths = samples("orders.events", "good") + samples("orders.events", "bad")
    out = subprocess.run([OP_BIN, "validate", "--topic", "orders.events"] + [str(p) for p in paths],
                         capture_output=True, timeout=60)
    assert out.returncode == 1  # there are invalid samples
    results = [json.loads(line) for line in out.stdout.decode().splitlines()]
    assert len(results) == len(paths)
    for path, result in zip(paths, results):
        assert result["file"] == str(path)
        assert result["valid"] == schema_accepts("orders.events", path.read_bytes()), (path.name, result)
        if not result["valid"]:
            assert result["reason"] == expected[path.name], (path.name, result)
            assert result["message"]
