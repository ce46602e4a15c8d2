# SPDX-License-Identifier: GPL-2.0-only
"""Back end: one emitter per event (qapi-events.[ch]).

qapi_event_send_<event>(sink, members...) builds the event's 'data' object
and hands it to the hand-written kmig_qmp_event_emit(), which stamps and
broadcasts it.  Builtins (an 'any' is a json_object pointer) and enums pass
by value, other types by pointer.
"""

from gen import CFile
from schema import Builtin, Enum, c_name


def by_value(t):
    return isinstance(t, (Builtin, Enum))


def params(ev):
    out = []
    for m in ev.arg_type.all_members() if ev.arg_type else []:
        if m.optional:
            out.append(f"bool has_{m.c_name()}")
        ct = m.type.c_type()
        if m.type.name == "str":
            out.append(f"const char *{m.c_name()}")
        elif by_value(m.type):
            out.append(ct + ("" if ct.endswith("*") else " ") + m.c_name())
        else:
            out.append(f"const {ct} *{m.c_name()}")
    return out


def gen(schema, src, outdir):
    h = CFile("qapi-events.h", src)
    c = CFile("qapi-events.c", src)
    h.add("#ifndef KMIG_QAPI_EVENTS_H\n#define KMIG_QAPI_EVENTS_H\n\n#include \"qapi-visit.h\"\n\n"
          "struct kmig_event_sink;\n"
          "/* hand-written: stamps and broadcasts one event; takes ownership of data */\n"
          "void kmig_qmp_event_emit(struct kmig_event_sink *sink, const char *name,\n"
          "\t\tstruct json_object *data);\n\n")
    c.add("#include \"qapi-events.h\"\n\n")
    for ev in schema.events:
        proto = (f"void qapi_event_send_{c_name(ev.name.lower())}(" +
                 ", ".join(["struct kmig_event_sink *sink"] + params(ev)) + ")")
        h.add(proto + ";\n")
        c.add(proto + "\n{\n")
        if ev.arg_type:
            c.add("\tstruct json_object *d = json_object_new_object();\n\n")
            for m in ev.arg_type.all_members():
                vn = m.type.name if isinstance(m.type, Builtin) else m.type.c_name()
                ref = f"&{m.c_name()}" if by_value(m.type) else m.c_name()
                if m.type.name == "str":
                    ref = f"(char *const *)&{m.c_name()}"
                line = f"json_object_object_add(d, \"{m.name}\", visit_out_{vn}({ref}));"
                c.add(f"\tif (has_{m.c_name()})\n\t\t{line}\n" if m.optional else f"\t{line}\n")
            c.add(f"\tkmig_qmp_event_emit(sink, \"{ev.name}\", d);\n}}\n\n")
        else:
            c.add(f"\tkmig_qmp_event_emit(sink, \"{ev.name}\", NULL);\n}}\n\n")
    h.add("\n#endif\n")
    h.write(outdir)
    c.write(outdir)
