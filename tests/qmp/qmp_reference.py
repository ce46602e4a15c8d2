# SPDX-License-Identifier: GPL-2.0-only
"""qmp_reference.py: the expected QMP replies, row by row, as QEMU 7.2 gives them (observed by
driving a real QEMU 7.2 over QMP; the section numbers name the groups of that survey: negotiation,
defaults, capabilities, parameters, control commands), plus the few places where kmig differs on
purpose, each marked.  This file is the reference the protocol suite holds kmigd to.  Data only:
test_protocol.py runs it.
"""


def E(desc, cls="GenericError"):
    """An expected error reply; desc=None accepts any non-empty description."""
    return {"error": {"class": cls, "desc": desc}}


def R(value):
    return {"return": value}


def with_id(reply, id):
    return dict(reply, id=id)


# ---- Reference tables (transcribed row by row) --------------------------------------------------

NEED_NEG = E("Expecting capabilities negotiation with 'qmp_capabilities'", "CommandNotFound")

# §2, sent in this order before qmp_capabilities: (case, raw request, expected reply)
NEGOTIATION_ROWS = [
    ("pre/query-migrate", '{"execute": "query-migrate"}', NEED_NEG),
    ("pre/query-version", '{"execute": "query-version"}', NEED_NEG),
    ("pre/query-commands", '{"execute": "query-commands"}', NEED_NEG),
    ("pre/unknown-command", '{"execute": "no-such-command"}', NEED_NEG),
    ("pre/query-migrate+id", '{"execute": "query-migrate", "id": "pre-1"}', with_id(NEED_NEG, "pre-1")),
    ("pre/malformed-json", '{"execute": foo}', E("JSON parse error, invalid keyword 'foo'")),
    ("pre/json-array", '[]', E("QMP input must be a JSON object")),
    ("pre/exec-oob query-migrate", '{"exec-oob": "query-migrate"}',
     E("QMP input member 'exec-oob' is unexpected")),
    ("pre/exec-oob qmp_capabilities", '{"exec-oob": "qmp_capabilities"}',
     E("QMP input member 'exec-oob' is unexpected")),
    ("pre/qmp_capabilities enable=[foo]", '{"execute": "qmp_capabilities", "arguments": {"enable": ["foo"]}}',
     E("Parameter 'null' does not accept value 'foo'")),
    ("pre/qmp_capabilities enable='oob' (string)", '{"execute": "qmp_capabilities", "arguments": {"enable": "oob"}}',
     E("Invalid parameter type for 'enable', expected: array")),
    ("pre/qmp_capabilities unknown-arg", '{"execute": "qmp_capabilities", "arguments": {"bogus": 1}}',
     E("Parameter 'bogus' is unexpected")),
    # kmig advertises no capabilities, so even "oob" is refused.
    ("pre/qmp_capabilities enable=[oob]", '{"execute": "qmp_capabilities", "arguments": {"enable": ["oob"]}}',
     E("Capability oob not available")),
]

# §1 and the summary under §2, after negotiation: (case, raw request, expected reply)
FRAMING_ROWS = [
    ("json-array", '[]', E("QMP input must be a JSON object")),
    ("json-number", '5', E("QMP input must be a JSON object")),
    ("json-string", '"x"', E("QMP input must be a JSON object")),
    ("empty-object", '{}', E("QMP input lacks member 'execute'")),
    ("execute-not-string", '{"execute": 1}', E("QMP input member 'execute' must be a string")),
    ("arguments-not-object", '{"execute": "query-status", "arguments": []}',
     E("QMP input member 'arguments' must be an object")),
    ("unexpected-member", '{"execute": "query-status", "foo": 1}', E("QMP input member 'foo' is unexpected")),
    ("unknown-command", '{"execute": "no-such-command"}',
     E("The command no-such-command has not been found", "CommandNotFound")),
]

# §1: any JSON value is echoed as id: (kind, id as sent, id as it must come back)
ID_ROWS = [
    ("string", '"abc"', "abc"), ("int", '7', 7), ("float", '1.5', 1.5),
    ("object", '{"a": [1, {"b": null}]}', {"a": [1, {"b": None}]}), ("array", '[1, "two", 3.5]', [1, "two", 3.5]),
    ("null", 'null', None), ("true", 'true', True),
    ("2^64", '18446744073709551616', 1.8446744073709552e+19),   # raw text must say 1.8446744073709552e+19
]

STATUS_RUNNING = {"status": "running", "singlestep": False, "running": True}

# §4: capabilities in the order query-migrate-capabilities returns them, all false at start.
CAPABILITIES = [
    "xbzrle", "rdma-pin-all", "auto-converge", "zero-blocks", "compress", "events", "postcopy-ram", "x-colo",
    "release-ram", "block", "return-path", "pause-before-switchover", "multifd", "dirty-bitmaps",
    "postcopy-blocktime", "late-block-activate", "x-ignore-shared", "validate-uuid", "background-snapshot",
    "zero-copy-send", "postcopy-preempt",
    # kmig differs on purpose: its own extension, off like the rest
    "x-kmig-downtime-guarantee",
]
DEFAULT_CAPS = [{"state": False, "capability": c} for c in CAPABILITIES]

# §4: query-migrate-parameters defaults (QEMU's key order; block-bitmap-mapping absent until set).
DEFAULT_PARAMS = {
    "cpu-throttle-tailslow": False, "xbzrle-cache-size": 67108864, "cpu-throttle-initial": 20, "announce-max": 550,
    "decompress-threads": 2, "compress-threads": 8, "compress-level": 1, "multifd-channels": 2,
    "multifd-zstd-level": 1, "announce-initial": 50, "block-incremental": False, "compress-wait-thread": True,
    "downtime-limit": 300, "tls-authz": "", "multifd-compression": "none", "announce-rounds": 5,
    "announce-step": 100, "tls-creds": "", "multifd-zlib-level": 1, "max-cpu-throttle": 99,
    "max-postcopy-bandwidth": 0, "tls-hostname": "", "throttle-trigger-threshold": 50,
    "max-bandwidth": 134217728, "x-checkpoint-delay": 20000, "cpu-throttle-increment": 10,
    # kmig differs on purpose: its own extension, the dirty tracker to use
    "x-kmig-tracker": "auto",
}

# The QAPI 2.10 seed schema's commands: query-commands must list every one.
SEED_COMMANDS = [
    "query-migrate", "migrate-set-capabilities", "query-migrate-capabilities", "migrate-set-parameters",
    "query-migrate-parameters", "client_migrate_info", "migrate-start-postcopy", "x-colo-lost-heartbeat",
    "migrate_cancel", "migrate_set_downtime", "migrate_set_speed", "migrate-set-cache-size",
    "query-migrate-cache-size", "migrate", "migrate-incoming", "xen-save-devices-state", "xen-set-replication",
    "query-xen-replication-status", "xen-colo-do-checkpoint", "qmp_capabilities", "query-version",
    "query-commands", "query-qmp-schema", "query-status",
]

# §5: replies to setting a capability true alone (absent = {}); setting false is always {}.
CAP_SET_TRUE_ERRORS = {
    "zero-copy-send": "Zero copy only available for non-compressed non-TLS multifd migration",
    "postcopy-preempt": "Postcopy preempt requires postcopy-ram",
}

# §5, malformed or invalid requests: (case, arguments, expected reply)
CAP_MALFORMED_ROWS = [
    ("invalid-name", {"capabilities": [{"capability": "no-such-cap", "state": True}]},
     E("Parameter 'capability' does not accept value 'no-such-cap'")),
    ("uppercase-name", {"capabilities": [{"capability": "XBZRLE", "state": True}]},
     E("Parameter 'capability' does not accept value 'XBZRLE'")),
    ("state-as-string", {"capabilities": [{"capability": "xbzrle", "state": "true"}]},
     E("Invalid parameter type for 'capabilities[0].state', expected: boolean")),
    ("state-as-int", {"capabilities": [{"capability": "xbzrle", "state": 1}]},
     E("Invalid parameter type for 'capabilities[0].state', expected: boolean")),
    ("missing-state", {"capabilities": [{"capability": "xbzrle"}]}, E("Parameter 'capabilities[0].state' is missing")),
    # not in the reference table: a bad entry after a good one must leave the good one unapplied
    ("atomic", {"capabilities": [{"capability": "events", "state": True},
                                 {"capability": "no-such-cap", "state": True}]},
     E("Parameter 'capability' does not accept value 'no-such-cap'")),
]


class Same:
    """Parameter row result: accepted, reads back the value sent."""


class Reads:
    """Parameter row result: accepted, reads back `value`."""
    def __init__(self, value):
        self.value = value


SAME = Same()
U64 = "expects uint64"
U8 = "expects uint8_t"


def P(name, what):
    return "Parameter '%s' %s" % (name, what)


def TYPE(name, typ):
    return "Invalid parameter type for '%s', expected: %s" % (name, typ)


# §6, each value sent alone: (parameter, values in the order sent, SAME | Reads(v) | error desc)
PARAM_ROWS = [
    ("compress-level", [0, 1, 9], SAME),
    ("compress-level", [10, 100], P("compress_level", "expects a value between 0 and 9")),
    ("compress-level", [-1, 9223372036854775807, 18446744073709551615], P("compress-level", U8)),
    ("compress-level", ["5", 5.5, None, True, 18446744073709551616], P("compress-level", U64)),
    ("compress-threads", [1, 8, 255], SAME),
    ("compress-threads", [0], P("compress_threads", "expects a value between 1 and 255")),
    ("compress-threads", [256, -1], P("compress-threads", U8)),
    ("compress-threads", ["8"], P("compress-threads", U64)),
    ("decompress-threads", [1, 2, 255], SAME),
    ("decompress-threads", [0], P("decompress_threads", "expects a value between 1 and 255")),
    ("decompress-threads", [256, -1], P("decompress-threads", U8)),
    ("cpu-throttle-initial", [1, 20, 99], SAME),
    ("cpu-throttle-initial", [0, 100], P("cpu_throttle_initial", "expects an integer in the range of 1 to 99")),
    ("cpu-throttle-initial", [-5], P("cpu-throttle-initial", U8)),
    ("cpu-throttle-initial", ["20"], P("cpu-throttle-initial", U64)),
    ("cpu-throttle-increment", [1, 10, 99], SAME),
    ("cpu-throttle-increment", [0, 100], P("cpu_throttle_increment", "expects an integer in the range of 1 to 99")),
    ("cpu-throttle-increment", [-1], P("cpu-throttle-increment", U8)),
    ("tls-creds", ["", "tls0"], SAME),
    ("tls-creds", [None], Reads("")),
    ("tls-creds", [5, True], TYPE("tls-creds", "StrOrNull")),
    ("tls-hostname", ["", "example.com"], SAME),
    ("tls-hostname", [None], Reads("")),
    ("tls-hostname", [5], TYPE("tls-hostname", "StrOrNull")),
    ("tls-authz", ["", "authz0"], SAME),
    ("tls-authz", [None], Reads("")),
    ("tls-authz", [5], TYPE("tls-authz", "StrOrNull")),
    ("max-bandwidth", [0, 1, 33554432, 134217728, 9223372036854775807, 18446744073709551615], SAME),
    ("max-bandwidth", [18446744073709551616, "32M", "33554432", 1.5, None], P("max-bandwidth", U64)),
    ("max-bandwidth", [-1], Reads(18446744073709551615)),
    ("max-bandwidth", [-33554432], Reads(18446744073675997184)),
    ("downtime-limit", [0, 1, 300, 2000000], SAME),
    ("downtime-limit", [2000001, 9223372036854775807, 18446744073709551615, -1],
     P("downtime_limit", "expects an integer in the range of 0 to (2000 * 1000) ms")),
    ("downtime-limit", [18446744073709551616, "300", 0.5], P("downtime-limit", U64)),
    ("x-checkpoint-delay", [0, 200, 20000, 4294967295], SAME),
    ("x-checkpoint-delay", [4294967296, 18446744073709551615, -1], P("x-checkpoint-delay", "expects uint32_t")),
    ("x-checkpoint-delay", ["200"], P("x-checkpoint-delay", U64)),
    ("block-incremental", [True, False], SAME),
    ("block-incremental", ["yes", "true", 1, 0, None], TYPE("block-incremental", "boolean")),
    ("throttle-trigger-threshold", [1, 50, 100], SAME),
    ("throttle-trigger-threshold", [0, 101],
     P("throttle_trigger_threshold", "expects an integer in the range of 1 to 100")),
    ("throttle-trigger-threshold", [-1], P("throttle-trigger-threshold", U8)),
    ("cpu-throttle-tailslow", [True, False], SAME),
    ("cpu-throttle-tailslow", [1], TYPE("cpu-throttle-tailslow", "boolean")),
    # these depend on cpu-throttle-initial being 20 (its default; every case restores it)
    ("max-cpu-throttle", [1, 0, 100],
     P("max_cpu_throttle", "expects an integer in the range of cpu_throttle_initial to 99")),
    ("max-cpu-throttle", [99], SAME),
    ("max-cpu-throttle", [-1], P("max-cpu-throttle", U8)),
    ("multifd-channels", [1, 2, 255], SAME),
    ("multifd-channels", [0], P("multifd_channels", "expects a value between 1 and 255")),
    ("multifd-channels", [256, -1], P("multifd-channels", U8)),
    ("xbzrle-cache-size", [4096, 1048576, 67108864, 1099511627776], SAME),
    ("xbzrle-cache-size", [1000000, 4095, 1, 0, 9223372036854775807, -1],
     P("xbzrle_cache_size", "expects a power of two no less than the target page size")),
    ("max-postcopy-bandwidth", [0, 1, 9223372036854775807, 18446744073709551615], SAME),
    ("max-postcopy-bandwidth", [-1], Reads(18446744073709551615)),
    ("multifd-compression", ["none", "zlib", "zstd"], SAME),
    ("multifd-compression", ["lz4"], P("multifd-compression", "does not accept value 'lz4'")),
    ("multifd-compression", [""], P("multifd-compression", "does not accept value ''")),
    ("multifd-compression", [1], TYPE("multifd-compression", "string")),
    # kmig deviation: QEMU 7.2 accepts any uint8 here and always reads back 1
    # (a bug: it never stores the value); kmig stores and range-checks it.
    ("multifd-zlib-level", [0, 9], SAME),
    ("multifd-zlib-level", [10], P("multifd_zlib_level", "expects a value between 0 and 9")),
    ("multifd-zlib-level", [1], SAME),
    ("multifd-zlib-level", [-1], P("multifd-zlib-level", U8)),
    ("multifd-zstd-level", [0, 20], SAME),              # kmig deviation, as above
    ("multifd-zstd-level", [21], P("multifd_zstd_level", "expects a value between 0 and 20")),
    ("multifd-zstd-level", [1], SAME),
    ("multifd-zstd-level", [-1], P("multifd-zstd-level", U8)),
    ("announce-initial", [1, 50, 100000, 0], SAME),
    ("announce-initial", [100001, -1], P("announce_initial", "expects a value between 0 and 100000")),
    ("announce-max", [1, 550, 100000, 0], SAME),
    ("announce-max", [100001], P("announce_max", "expects a value between 0 and 100000")),
    ("announce-rounds", [0, 5, 1000], SAME),
    ("announce-rounds", [1001], P("announce_rounds", "expects a value between 0 and 1000")),
    ("announce-step", [1, 100, 10000], SAME),
    ("announce-step", [10001, 0], P("announce_step", "expects a value between 0 and 10000")),
    ("compress-wait-thread", [True, False], SAME),
    ("compress-wait-thread", ["no"], TYPE("compress-wait-thread", "boolean")),
    ("block-bitmap-mapping", [[], [{"node-name": "n", "alias": "a", "bitmaps": []}]], SAME),
    ("block-bitmap-mapping", ["x"], TYPE("block-bitmap-mapping", "array")),
    ("block-bitmap-mapping", [[{"node-name": "n"}]], P("block-bitmap-mapping[0].alias", "is missing")),
    # kmig's own extension: a tracker back end's name, or "auto"
    ("x-kmig-tracker", ["uffd-wp", "auto"], SAME),
    ("x-kmig-tracker", [5, None], TYPE("x-kmig-tracker", "string")),
]

# The reference's many-valid-at-once request is cut off after "downtime"; it lists the 2.10 members
# in schema order, so it is completed here with the remaining 2.10 members.
MANY_PARAMS = {"compress-level": 9, "compress-threads": 4, "decompress-threads": 4, "cpu-throttle-initial": 30,
               "cpu-throttle-increment": 5, "tls-creds": "", "tls-hostname": "", "max-bandwidth": 33554432,
               "downtime-limit": 1000, "x-checkpoint-delay": 10000, "block-incremental": True}
FED_BACK = "(query output)"

# §6 structural cases: (case, command, arguments or None, expected reply, parameters expected afterwards)
PARAM_STRUCTURAL_ROWS = [
    ("unknown-param", "migrate-set-parameters", {"no-such-param": 1}, E(P("no-such-param", "is unexpected")), None),
    ("underscore-name", "migrate-set-parameters", {"compress_level": 1}, E(P("compress_level", "is unexpected")), None),
    ("empty-object", "migrate-set-parameters", {}, R({}), DEFAULT_PARAMS),
    ("no-arguments", "migrate-set-parameters", None, R({}), DEFAULT_PARAMS),
    ("valid+invalid (atomic)", "migrate-set-parameters", {"compress-level": 5, "cpu-throttle-initial": 0},
     E(P("cpu_throttle_initial", "expects an integer in the range of 1 to 99")), {"compress-level": 1}),
    ("valid+unknown (atomic)", "migrate-set-parameters", {"compress-level": 5, "no-such-param": 0},
     E(P("no-such-param", "is unexpected")), {"compress-level": 1}),
    ("many-valid-at-once", "migrate-set-parameters", MANY_PARAMS, R({}), MANY_PARAMS),
    ("reset-all-defaults", "migrate-set-parameters", DEFAULT_PARAMS, R({}), DEFAULT_PARAMS),
    ("query-output-fed-back", "migrate-set-parameters", FED_BACK, R({}), DEFAULT_PARAMS),
    ("query-with-unknown-arg", "query-migrate-parameters", {"x": 1}, E(P("x", "is unexpected")), None),
]

# Legacy 2.10 commands with their 2.10 units, in order: (case, command, arguments, reply, read back)
LEGACY_ROWS = [
    ("migrate_set_downtime 0.5", "migrate_set_downtime", {"value": 0.5}, R({}), {"downtime-limit": 500}),
    ("migrate_set_downtime 2", "migrate_set_downtime", {"value": 2}, R({}), {"downtime-limit": 2000}),
    # QEMU 2.10's qmp_migrate_set_downtime() range-checks the seconds itself, before the
    # parameter check, so this text says "2000 seconds" where migrate-set-parameters says "(2000 * 1000) ms"
    ("migrate_set_downtime -1", "migrate_set_downtime", {"value": -1},
     E(P("downtime_limit", "expects an integer in the range of 0 to 2000 seconds")), {"downtime-limit": 2000}),
    ("migrate_set_downtime 'x'", "migrate_set_downtime", {"value": "x"}, E(TYPE("value", "number")),
     {"downtime-limit": 2000}),
    ("migrate_set_downtime 2001", "migrate_set_downtime", {"value": 2001},
     E(P("downtime_limit", "expects an integer in the range of 0 to 2000 seconds")), {"downtime-limit": 2000}),
    ("migrate_set_speed 33554432", "migrate_set_speed", {"value": 33554432}, R({}), {"max-bandwidth": 33554432}),
    ("migrate-set-cache-size 1000000", "migrate-set-cache-size", {"value": 1000000}, R({}),
     {"xbzrle-cache-size": 524288}),
    ("query-migrate-cache-size", "query-migrate-cache-size", None, R(524288), None),
    ("migrate-set-cache-size 100", "migrate-set-cache-size", {"value": 100}, E(None), {"xbzrle-cache-size": 524288}),
]

QM = {"execute": "query-migrate"}
UNIX_NONEXISTENT = "migrate unix nonexistent"   # its follow-up is checked by polling, see group_control

# §8, sent in this order on a fresh daemon: (step, request, expected reply)
CONTROL_ROWS = [
    ("query-status", {"execute": "query-status"}, R(STATUS_RUNNING)),
    ("query-migrate", QM, R({})),
    ("migrate_cancel", {"execute": "migrate_cancel"}, R({})),
    ("query-migrate after cancel", QM, R({})),
    ("migrate-start-postcopy (postcopy-ram off)", {"execute": "migrate-start-postcopy"},
     E("Enable postcopy with migrate_set_capability before the start of migration")),
    ("enable postcopy-ram", {"execute": "migrate-set-capabilities", "arguments": {"capabilities": [
        {"capability": "postcopy-ram", "state": True}]}}, R({})),
    ("migrate-start-postcopy (postcopy-ram on)", {"execute": "migrate-start-postcopy"},
     E("Postcopy must be started after migration has been started")),
    ("disable postcopy-ram", {"execute": "migrate-set-capabilities", "arguments": {"capabilities": [
        {"capability": "postcopy-ram", "state": False}]}}, R({})),
    ("migrate-continue pre-switchover", {"execute": "migrate-continue", "arguments": {"state": "pre-switchover"}},
     E("Migration not in expected state: none")),
    ("migrate-continue active", {"execute": "migrate-continue", "arguments": {"state": "active"}},
     E("Migration not in expected state: none")),
    ("migrate-pause", {"execute": "migrate-pause"},
     E("migrate-pause is currently only supported during postcopy-active state")),
    ("migrate-recover", {"execute": "migrate-recover", "arguments": {"uri": "tcp:127.0.0.1:1"}},
     E("Migrate recover can only be run when postcopy is paused.")),
    ("migrate-incoming (not -incoming defer)", {"execute": "migrate-incoming", "arguments": {
        "uri": "tcp:127.0.0.1:44441"}}, E("'-incoming' was not specified on the command line")),
    ("migrate-incoming bad uri (not defer)", {"execute": "migrate-incoming", "arguments": {"uri": "no-such-proto:x"}},
     E("'-incoming' was not specified on the command line")),
    ("query-migrate after migrate-incoming attempts", QM, R({})),
    ("x-colo-lost-heartbeat", {"execute": "x-colo-lost-heartbeat"}, E("The feature 'colo' is not enabled")),
    ("query-colo-status", {"execute": "query-colo-status"}, R({"last-mode": "none", "mode": "none", "reason": "none"})),
    ("query-migrationthreads", {"execute": "query-migrationthreads"},
     E("The command query-migrationthreads has not been found", "CommandNotFound")),
    ("query-dirty-rate", {"execute": "query-dirty-rate"},
     R({"status": "unstarted", "sample-pages": 0, "mode": "page-sampling", "start-time": 0, "calc-time": 0})),
    ("query-vcpu-dirty-limit", {"execute": "query-vcpu-dirty-limit"}, R([])),
    ("migrate resume=true (not paused)",
     {"execute": "migrate", "arguments": {"uri": "tcp:127.0.0.1:1", "resume": True}},
     E("Cannot resume if there is no paused migration")),
    ("query-migrate after resume attempt", QM, R({})),
    ("migrate bad uri", {"execute": "migrate", "arguments": {"uri": "no-such-proto:x"}},
     E("Parameter 'uri' expects a valid migration protocol")),
    ("query-migrate after bad uri", QM, R({"status": "failed"})),
    ("migrate empty uri", {"execute": "migrate", "arguments": {"uri": ""}},
     E("Parameter 'uri' expects a valid migration protocol")),
    ("query-migrate after empty uri", QM, R({"status": "failed"})),
    ("migrate uri tcp:", {"execute": "migrate", "arguments": {"uri": "tcp:"}}, E("error parsing address ''")),
    ("query-migrate after tcp:", QM, R({"status": "failed", "error-desc": "error parsing address ''"})),
    ("migrate uri tcp:127.0.0.1 (no port)", {"execute": "migrate", "arguments": {"uri": "tcp:127.0.0.1"}},
     E("error parsing address '127.0.0.1'")),
    ("query-migrate after tcp no port", QM, R({"status": "failed", "error-desc": "error parsing address '127.0.0.1'"})),
    # the reference used unix:/run/does-not-exist.sock; a path in our own temp dir is just as absent
    (UNIX_NONEXISTENT, {"execute": "migrate", "arguments": {"uri": "unix:%(tmp)s/does-not-exist.sock"}}, R({})),
]

# Commands that need a VM: each must answer a GenericError whose desc names the command.
VM_ONLY_ROWS = [
    ("client_migrate_info", {"protocol": "spice", "hostname": "localhost"}),
    ("xen-save-devices-state", {"filename": "/tmp/x"}),
    ("xen-set-replication", {"enable": True, "primary": True}),
    ("query-xen-replication-status", None),
    ("xen-colo-do-checkpoint", None),
]
