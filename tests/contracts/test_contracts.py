"""Contract tests: the JSON Schemas in contracts/ are the source of truth.

What is checked, in order:
  1. every schema is a valid draft-07 schema whose $refs resolve and whose examples pass;
  2. every sample in samples/<topic>/good passes its topic's schema and every one in
     samples/<topic>/bad fails it, read as strict JSON (see strict_loads);
  3. contracts/asyncapi.yaml lists every topic of DESIGN.md §2 with its partitions, key,
     single writer, schema and headers, and the <topic>.dlq convention;
  4. with OP_BIN set to an orderpulse binary: `$OP_BIN validate` (the C validator the
     consumers run) agrees with the schema on every orders.events sample, and reports the
     reason token named by each bad sample's file name (<reason>__<what>.json).

Run: /usr/bin/python3 -m pytest tests/contracts  (OP_BIN=build/orderpulse for part 4).
Needs Debian's python3-jsonschema and python3-yaml.
"""
import json
import math
import os
import pathlib
import re
import subprocess

import pytest
import yaml
from jsonschema import Draft7Validator, RefResolver

ROOT = pathlib.Path(__file__).resolve().parents[2]
CONTRACTS = ROOT / "contracts"
SAMPLES = pathlib.Path(__file__).resolve().parent / "samples"
HEADER = ROOT / "src" / "contracts" / "validate.h"
OP_BIN = os.environ.get("OP_BIN", "")

# DESIGN.md §2: topic -> (partitions, key, written by).
TOPICS = {
    "orders.created": (48, "order_id", "order"),
    "orders.events": (24, "order_id", "order"),
    "payments.completed": (24, "order_id", "payment"),
    "inventory.updated": (24, "sku", "inventory"),
    "notifications.events": (12, "user_id", "notify"),
    "orders.audit": (6, "order_id", "order"),
    "analytics.aggregates": (6, "tenant_id", "analytics"),
}
DLQ_PARTITIONS = 6
DLQ_HEADERS = {"error", "source_partition", "source_offset"}


# ---- strict JSON ---------------------------------------------------------------------------


class NotStrictJSON(ValueError):
    """The bytes are not a JSON document the contract allows (see orders.events $comment)."""


def _unique_members(pairs):
    obj = {}
    for key, value in pairs:
        if key in obj:
            raise NotStrictJSON(f"duplicate member name {key!r}")
        obj[key] = value
    return obj


def _no_constants(name):
    raise NotStrictJSON(f"{name} is not JSON")


def _int64(text):
    value = int(text)
    if not -(2**63) <= value < 2**63:
        raise NotStrictJSON(f"integer {text} is beyond 64 bits")
    return value


def _finite(text):
    value = float(text)
    if math.isinf(value):
        raise NotStrictJSON(f"number {text} overflows a double")
    return value


def _check_strings(node):
    strings = []
    if isinstance(node, dict):
        strings = list(node)
        for value in node.values():
            _check_strings(value)
    elif isinstance(node, list):
        for value in node:
            _check_strings(value)
    elif isinstance(node, str):
        strings = [node]
    for s in strings:
        if "\x00" in s:
            raise NotStrictJSON("U+0000 in a string")
        try:
            s.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise NotStrictJSON("a lone surrogate escape") from exc


def strict_loads(data: bytes):
    """Parses data the way the contract reads a message value: UTF-8 (no BOM), RFC 8259
    syntax, unique member names, no U+0000, no lone surrogates, no NaN/Infinity, integers
    within 64 bits, reals within double range. Raises NotStrictJSON (or a ValueError)."""
    try:
        text = data.decode("utf-8")
        doc = json.loads(text, object_pairs_hook=_unique_members, parse_constant=_no_constants,
                         parse_int=_int64, parse_float=_finite)
    except (UnicodeDecodeError, RecursionError) as exc:
        raise NotStrictJSON(str(exc)) from exc
    _check_strings(doc)
    return doc


# ---- schemas -------------------------------------------------------------------------------


def schema_files():
    return sorted(CONTRACTS.glob("*.schema.json"))


def load_store():
    return {path.name: json.loads(path.read_text()) for path in schema_files()}


STORE = load_store()


def resolver_for(schema):
    return RefResolver(base_uri=schema["$id"], referrer=schema, store=STORE)


def validator(topic):
    schema = STORE[f"{topic}.schema.json"]
    return Draft7Validator(schema, resolver=resolver_for(schema))


VALIDATORS = {topic: validator(topic) for topic in TOPICS}


def schema_verdict(topic, data: bytes):
    """(accepted, why) for one message value under the topic's schema."""
    try:
        doc = strict_loads(data)
    except ValueError as exc:
        return False, f"not strict JSON: {exc}"
    error = next(iter(VALIDATORS[topic].iter_errors(doc)), None)
    return error is None, "" if error is None else f"{list(error.absolute_path)}: {error.message}"


def refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


@pytest.mark.parametrize("path", schema_files(), ids=lambda p: p.name)
def test_schema_is_valid_draft07(path):
    schema = json.loads(path.read_text())
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert schema["$id"] == path.name
    Draft7Validator.check_schema(schema)
    resolver = resolver_for(schema)
    for ref in refs(schema):
        resolver.resolve(ref)  # raises RefResolutionError if it points nowhere
    for example in schema.get("examples", []):
        Draft7Validator(schema, resolver=resolver).validate(example)


def test_every_topic_has_a_schema_and_nothing_else_does():
    names = {p.name for p in schema_files()} - {"defs.schema.json"}
    assert names == {f"{topic}.schema.json" for topic in TOPICS}


@pytest.mark.parametrize("topic", TOPICS)
def test_topic_key_is_a_required_field(topic):
    _, key, _ = TOPICS[topic]
    assert key in STORE[f"{topic}.schema.json"]["required"]


# ---- samples -------------------------------------------------------------------------------


def samples(topic, kind):
    return sorted((SAMPLES / topic / kind).glob("*.json"))


def all_samples():
    return [(topic, kind, path) for topic in TOPICS for kind in ("good", "bad")
            for path in samples(topic, kind)]


def sample_id(param):
    topic, kind, path = param
    return f"{topic}/{kind}/{path.stem}"


@pytest.mark.parametrize("sample", all_samples(), ids=sample_id)
def test_sample_against_schema(sample):
    topic, kind, path = sample
    accepted, why = schema_verdict(topic, path.read_bytes())
    if kind == "good":
        assert accepted, why
    else:
        assert not accepted, "the schema accepts a bad sample"


@pytest.mark.parametrize("topic", TOPICS)
def test_every_topic_has_good_and_bad_samples(topic):
    assert samples(topic, "good") and samples(topic, "bad")


def reason_tokens():
    """The tokens of OP_CONTRACT_REASON_MAP in src/contracts/validate.h."""
    return re.findall(r"XX\((\w+),", HEADER.read_text())


def expected_reason(path):
    return path.stem.split("__", 1)[0]


def test_orders_events_samples_cover_the_contract():
    good = samples("orders.events", "good")
    bad = samples("orders.events", "bad")
    assert len(good) >= 10 and len(bad) >= 20
    types = {strict_loads(p.read_bytes())["event_type"] for p in good}
    assert types == set(STORE["orders.events.schema.json"]["properties"]["event_type"]["enum"])
    tokens = reason_tokens()
    for path in bad:
        assert "__" in path.stem and expected_reason(path) in tokens, path.name
    # Every reason but too_large (a 1 MiB file; generated in a test below) has a sample.
    assert {expected_reason(p) for p in bad} == set(tokens) - {"too_large"}
    required = STORE["orders.events.schema.json"]["required"] + ["payload_status"]
    missing = {p.stem.split("__")[1] for p in bad if expected_reason(p) == "missing_field"}
    assert set(required) <= missing


def test_orders_events_sample_ids_of_exactly_128_bytes():
    for name in ("ids_128_bytes_ascii", "ids_128_bytes_multibyte"):
        doc = strict_loads((SAMPLES / "orders.events" / "good" / f"{name}.json").read_bytes())
        ids = [doc["event_id"], doc["order_id"], doc["tenant_id"], doc["payload"]["user_id"]]
        assert any(len(i.encode()) == 128 for i in ids)
        assert all(len(i.encode()) <= 128 for i in ids)


# ---- AsyncAPI ------------------------------------------------------------------------------


ASYNCAPI = yaml.safe_load((CONTRACTS / "asyncapi.yaml").read_text())


def pointer(doc, ref):
    node = doc
    for part in ref.lstrip("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def channel_for(address):
    found = [c for c in ASYNCAPI["channels"].values() if c["address"] == address]
    assert len(found) == 1, address
    return found[0]


def test_asyncapi_lists_every_topic_of_design():
    assert ASYNCAPI["asyncapi"].startswith("3.")
    addresses = {c["address"] for c in ASYNCAPI["channels"].values()}
    assert addresses == set(TOPICS) | {"{topic}.dlq"}


def test_asyncapi_refs_resolve():
    for ref in refs(ASYNCAPI):
        if ref.startswith("#/"):
            pointer(ASYNCAPI, ref)
        else:
            assert (CONTRACTS / ref.split("#")[0]).exists(), ref


@pytest.mark.parametrize("topic", TOPICS)
def test_asyncapi_topic(topic):
    partitions, key, writer = TOPICS[topic]
    channel = channel_for(topic)
    assert channel["bindings"]["kafka"]["partitions"] == partitions
    assert channel["x-key"] == key
    (message_ref,) = [m["$ref"] for m in channel["messages"].values()]
    message = pointer(ASYNCAPI, message_ref)
    assert message["payload"]["schema"]["$ref"] == f"{topic}.schema.json"
    assert message["bindings"]["kafka"]["key"]["description"] == key
    headers = [pointer(ASYNCAPI, pointer(ASYNCAPI, t["$ref"])["headers"]["$ref"])
               for t in message["traits"]]
    assert any("traceparent" in h["properties"] for h in headers)
    senders = [op for op in ASYNCAPI["operations"].values()
               if op["action"] == "send" and pointer(ASYNCAPI, op["channel"]["$ref"]) is channel]
    assert [[t["name"] for t in op["tags"]] for op in senders] == [[writer]]


def test_asyncapi_dead_letter_convention():
    channel = channel_for("{topic}.dlq")
    assert set(channel["parameters"]["topic"]["enum"]) == set(TOPICS)
    assert channel["bindings"]["kafka"]["partitions"] == DLQ_PARTITIONS
    (message_ref,) = [m["$ref"] for m in channel["messages"].values()]
    headers = pointer(ASYNCAPI, pointer(ASYNCAPI, message_ref)["headers"]["$ref"])
    assert DLQ_HEADERS <= set(headers["required"])
    assert "traceparent" in headers["properties"]


def design_topics():
    """The §2 table of DESIGN.md as {topic: (partitions, key, writer)}, or None."""
    candidates = [os.environ.get("OP_DESIGN", ""), ROOT.parent / "shared" / "DESIGN.md",
                  ROOT / "docs" / "DESIGN.md"]
    path = next((pathlib.Path(c) for c in candidates if c and pathlib.Path(c).is_file()), None)
    if path is None:
        return None
    section = path.read_text().split("## 2.", 1)[1].split("\n## ", 1)[0]
    table = {}
    for row in re.findall(r"^\|(.+)\|\s*$", section, re.M):
        cells = [c.strip().strip("`") for c in row.split("|")]
        if cells[1].isdigit():
            table[cells[0]] = (int(cells[1]), cells[2], cells[3])
    return table


def test_topic_table_matches_design():
    table = design_topics()
    if table is None:
        pytest.skip("DESIGN.md not found (set OP_DESIGN to its path)")
    assert table.pop("<topic>.dlq")[0] == DLQ_PARTITIONS
    assert table == TOPICS


# ---- the C validator -----------------------------------------------------------------------

needs_bin = pytest.mark.skipif(
    not OP_BIN or not os.path.isfile(OP_BIN),
    reason="OP_BIN is not set to an orderpulse binary; the C validator checks are skipped",
)


def run_validate(*args, stdin=None):
    return subprocess.run([OP_BIN, "validate", *map(str, args)], input=stdin,
                          capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def c_verdicts():
    """{path: result line} of one `validate` run over every orders.events sample."""
    paths = samples("orders.events", "good") + samples("orders.events", "bad")
    out = run_validate("--topic", "orders.events", *paths)
    assert out.returncode == 1, out.stderr  # some samples are invalid
    lines = [json.loads(line) for line in out.stdout.decode().splitlines()]
    assert [line["file"] for line in lines] == [str(p) for p in paths]
    return {path: line for path, line in zip(paths, lines)}


ORDERS_EVENTS_SAMPLES = [s for s in all_samples() if s[0] == "orders.events"]


@needs_bin
@pytest.mark.parametrize("sample", ORDERS_EVENTS_SAMPLES, ids=sample_id)
def test_c_validator_agrees_with_schema(sample, c_verdicts):
    _, kind, path = sample
    result = c_verdicts[path]
    accepted, why = schema_verdict("orders.events", path.read_bytes())
    assert result["valid"] == accepted, (result, why)
    if kind == "bad":
        assert result["reason"] == expected_reason(path), result
        assert result["message"] and result["message"].isascii(), result


@needs_bin
def test_c_validator_byte_rule_for_ids(tmp_path):
    # 43 euro signs: 43 characters (the schema's maxLength passes) but 129 bytes.
    event = json.loads((SAMPLES / "orders.events/good/order_paid_full.json").read_text())
    event["order_id"] = "€" * 43
    path = tmp_path / "multibyte_id_129_bytes.json"
    path.write_text(json.dumps(event, ensure_ascii=False))
    assert schema_verdict("orders.events", path.read_bytes())[0]  # the documented difference
    result = json.loads(run_validate(path).stdout)
    assert result["valid"] is False and result["reason"] == "invalid_id"
    assert "order_id" in result["message"]


@needs_bin
def test_c_validator_size_limit(tmp_path):
    event = json.loads((SAMPLES / "orders.events/good/order_paid_full.json").read_text())
    event["padding"] = "p" * (1024 * 1024)
    path = tmp_path / "over_1_MiB.json"
    path.write_text(json.dumps(event))
    result = json.loads(run_validate(path).stdout)
    assert result["valid"] is False and result["reason"] == "too_large"


@needs_bin
def test_validate_command_exit_codes_and_stdin(tmp_path):
    good = SAMPLES / "orders.events/good/order_paid_full.json"
    bad = SAMPLES / "orders.events/bad/invalid_amount__two_points.json"
    assert run_validate(good).returncode == 0
    assert run_validate(good, bad).returncode == 1
    out = run_validate("-", stdin=good.read_bytes())
    assert out.returncode == 0 and json.loads(out.stdout) == {"file": "-", "valid": True}
    out = run_validate("--topic=orders.events", "--", bad)
    assert out.returncode == 1
    assert json.loads(out.stdout)["message"].startswith("payload.total_amount must be")
    help_out = run_validate("--help")
    assert help_out.returncode == 0 and b"usage" in help_out.stdout
    assert run_validate().returncode == 2
    assert run_validate("--topic", "payments.completed", good).returncode == 2
    assert run_validate("--no-such-option", good).returncode == 2
    # An unreadable file is reported and fails the run; the others are still checked.
    out = run_validate(tmp_path / "missing.json", good)
    assert out.returncode == 2 and b"missing.json" in out.stderr
    assert json.loads(out.stdout) == {"file": str(good), "valid": True}
