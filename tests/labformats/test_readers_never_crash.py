"""Property tests: whatever bytes arrive, a reader gives a LabReport or a ParseError.

Anything else (an IndexError, a RecursionError, a pydantic error leaking through) would
be a reader bug; the importer would still quarantine the file, but with a reason no lab
engineer can act on. The inputs are built from the real samples, mutated, so most of
them get deep into the readers rather than failing on the first byte.
"""

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ep.labformats import LabReport, ParseError, parse_fhir, parse_hl7v2, parse_lab_message
from ep.labformats.hl7v2 import MAX_SEGMENTS

SAMPLES = Path(__file__).parent / "samples"
HL7_SAMPLES = sorted(p.read_bytes() for p in SAMPLES.glob("*.hl7"))
FHIR_SAMPLES = [json.loads(p.read_bytes()) for p in sorted(SAMPLES.glob("*.json"))]

# no example database on disk, and the same examples on every run (CI must be repeatable)
READERS = settings(
    database=None,
    derandomize=True,
    deadline=None,
    max_examples=300,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

SEGMENT_IDS = st.sampled_from(["MSH", "PID", "ORC", "OBR", "OBX", "NTE", "ZZZ", "msh", "", "OB"])
FIELD_TEXT = st.text(
    alphabet=st.sampled_from(list("|^~\\&0123456789ABCDEFPNMSHCX-.,<>+ åäö\t\n\r\x0b\x1c")),
    max_size=40,
)
FIELD = st.one_of(
    FIELD_TEXT,
    st.sampled_from(
        ["EP-7K3M-9QX1", "19121212-1212", "191212121212", "NM", "SN", "CWE", "F", "C", "P", "X"]
    ),
    st.sampled_from(["20261126081500+0100", "2026", "99999999", "20261326", "<^0.1", "2.4"]),
)
SEGMENT = st.builds(
    lambda segment_id, fields: "|".join([segment_id, *fields]),
    SEGMENT_IDS,
    st.lists(FIELD, max_size=20),
)
MSH = st.builds(
    lambda fields: "MSH|^~\\&|" + "|".join(fields),
    st.lists(FIELD, max_size=20),
)


def _outcome(read, data):
    """Return what the reader made of ``data``: a report, or the reason it refused it."""
    try:
        report = read(data)
    except ParseError as exc:
        assert exc.reason and "\n" not in exc.reason
        return exc.reason
    assert isinstance(report, LabReport)
    assert report.observations
    return report


@READERS
@given(
    msh=MSH,
    segments=st.lists(SEGMENT, max_size=25),
    separator=st.sampled_from(["\r", "\n", "\r\n"]),
    encoding=st.sampled_from(["utf-8", "iso-8859-1"]),
)
def test_any_hl7_message_built_of_segments_is_read_or_refused_with_a_reason(
    msh, segments, separator, encoding
):
    data = separator.join([msh, *segments]).encode(encoding, "replace")
    _outcome(parse_hl7v2, data)
    _outcome(parse_lab_message, data)


@READERS
@given(
    sample=st.sampled_from(HL7_SAMPLES),
    edits=st.lists(
        st.tuples(st.floats(0, 1), st.integers(0, 40), st.binary(max_size=12)), max_size=6
    ),
)
def test_any_mutation_of_a_real_hl7_message_is_read_or_refused_with_a_reason(sample, edits):
    data = bytearray(sample)
    for where, cut, insert in edits:
        at = int(where * len(data))
        data[at : at + cut] = insert
    _outcome(parse_lab_message, bytes(data))


@READERS
@given(data=st.binary(max_size=300))
def test_any_bytes_at_all_are_read_or_refused_with_a_reason(data):
    _outcome(parse_lab_message, data)


JSON_LEAF = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(
        [
            "final",
            "corrected",
            "EP-7K3M-9QX1",
            "191212121212",
            "urn:oid:1.2.752.129.2.1.3.1",
            "http://npu-terminology.org",
            "Observation",
            "#obs1",
            "2026-11-26T08:15:00+01:00",
            "2026-13-45",
        ]
    ),
)
JSON_VALUE = st.recursive(
    JSON_LEAF,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)


def _paths(node, prefix=()):
    """Every place in a JSON document: a tuple of keys and indexes."""
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*prefix, index))


def _replace(node, path, value):
    if not path:
        return value
    copy = dict(node) if isinstance(node, dict) else list(node)
    copy[path[0]] = _replace(node[path[0]], path[1:], value)
    return copy


@READERS
@given(
    sample=st.sampled_from(FHIR_SAMPLES),
    edits=st.lists(st.tuples(st.floats(0, 1), JSON_VALUE), min_size=1, max_size=4),
)
def test_any_fhir_document_with_parts_replaced_is_read_or_refused_with_a_reason(sample, edits):
    document = sample
    for where, value in edits:
        paths = list(_paths(document))
        document = _replace(document, paths[int(where * (len(paths) - 1))], value)
    data = json.dumps(document).encode()
    _outcome(parse_fhir, data)
    _outcome(parse_lab_message, data)


@READERS
@given(document=JSON_VALUE, depth=st.integers(0, 3000))
def test_any_json_however_deep_is_read_or_refused_with_a_reason(document, depth):
    data = b"[" * depth + json.dumps(document).encode() + b"]" * depth
    _outcome(parse_lab_message, data)


def test_a_message_of_too_many_segments_is_refused_before_it_is_split():
    sample = (SAMPLES / "oru_r01_bom_lf.hl7").read_bytes()
    data = sample + b"\nNTE|1|L|x" * (MAX_SEGMENTS + 1)

    reason = _outcome(parse_lab_message, data)

    assert reason.startswith(f"more than {MAX_SEGMENTS:,} segments in one message")
