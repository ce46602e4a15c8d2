# SPDX-License-Identifier: GPL-2.0-only
"""Back end: the data query-qmp-schema returns (qapi-introspect.c).

It emits the SchemaInfo list as one JSON text in a C string, shaped as
QEMU's introspection (meta-type builtin/enum/object/array/alternate/command/
event).  Unlike QEMU, type names are not masked: kmig has nothing to hide.
"""

import json

from gen import CFile, c_string
from schema import Alternate, Array, Builtin, Enum, Object


def tname(t):
    return t.intro_name() if isinstance(t, Array) else t.name


def info_of(t):
    if isinstance(t, Builtin):
        return {"name": t.name, "meta-type": "builtin", "json-type": t.json_type}
    if isinstance(t, Enum):
        return {"name": t.name, "meta-type": "enum", "values": t.values,
                "members": [{"name": v} for v in t.values]}
    if isinstance(t, Array):
        return {"name": tname(t), "meta-type": "array", "element-type": tname(t.element)}
    if isinstance(t, Alternate):
        return {"name": t.name, "meta-type": "alternate",
                "members": [{"type": tname(m.type)} for m in t.members]}
    info = {"name": t.name, "meta-type": "object", "members": []}
    for m in t.all_members():
        mi = {"name": m.name, "type": tname(m.type)}
        if m.optional:
            mi["default"] = None
        info["members"].append(mi)
    if t.variants:
        info["tag"] = t.discriminator
        info["variants"] = [{"case": tag, "type": b.name} for tag, b in t.variants]
    return info


def gen(schema, src, outdir):
    used = {}

    def use(t):
        if t is None or tname(t) in used:
            return
        used[tname(t)] = t
        if isinstance(t, Array):
            use(t.element)
        elif isinstance(t, Alternate):
            for m in t.members:
                use(m.type)
        elif isinstance(t, Object):
            if t.base:
                use(t.base)
            for m in t.all_members():
                use(m.type)
            for _, b in t.variants:
                use(b)

    out = []
    for cmd in schema.commands:
        use(cmd.arg_type)
        use(cmd.ret_type)
        out.append({"name": cmd.name, "meta-type": "command",
                    "arg-type": cmd.arg_type.name if cmd.arg_type else "q_empty",
                    "ret-type": tname(cmd.ret_type) if cmd.ret_type else "q_empty"})
    for ev in schema.events:
        use(ev.arg_type)
        out.append({"name": ev.name, "meta-type": "event",
                    "arg-type": ev.arg_type.name if ev.arg_type else "q_empty"})
    out.append({"name": "q_empty", "meta-type": "object", "members": []})
    out.extend(info_of(t) for t in used.values())
    text = json.dumps(out, separators=(",", ":"))
    c = CFile("qapi-introspect.c", src)
    c.add("/* SchemaInfo list returned by query-qmp-schema */\nconst char kmig_qapi_schema_json[] =\n")
    for i in range(0, len(text), 100):
        c.add("\t" + c_string(text[i:i + 100]) + "\n")
    c.add(";\n")
    c.write(outdir)
