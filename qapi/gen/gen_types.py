# SPDX-License-Identifier: GPL-2.0-only
"""Back end: C types for every schema type (qapi-types.[ch]).

Enums become C enums plus a name table; structs and unions become structs
whose optional members carry a has_ flag; arrays become (n, v) pairs;
alternates carry the JSON kind they arrived as.  qapi_clear_T() frees what a
value owns (strings, arrays, 'any' trees), never the value itself.
"""

from gen import CFile
from schema import Alternate, Array, Builtin, Enum, Object, c_name


def member_decl(m):
    decl = ""
    if m.optional:
        decl += f"\tbool has_{m.c_name()};\n"
    return decl + f"\t{m.type.c_type()} {m.c_name()};\n"


def needs_clear(t):
    if isinstance(t, Builtin):
        return t.name in ("str", "any")
    return not isinstance(t, Enum)


def clear_call(t, expr):
    if isinstance(t, Builtin):
        return f"qapi_clear_{t.name}(&{expr});" if needs_clear(t) else ""
    return f"qapi_clear_{t.c_name()}(&{expr});" if needs_clear(t) else ""


def gen(schema, src, outdir):
    h = CFile("qapi-types.h", src)
    c = CFile("qapi-types.c", src)
    h.add("#ifndef KMIG_QAPI_TYPES_H\n#define KMIG_QAPI_TYPES_H\n\n"
          "#include \"qapi_rt.h\"\n\n")
    c.add("#include <stdlib.h>\n#include \"qapi-types.h\"\n\n")
    # forward typedefs first: types may refer to each other in any order
    for t in schema.defs:
        if isinstance(t, (Object, Alternate)):
            h.add(f"typedef struct {t.c_name()} {t.c_name()};\n")
    for a in schema.arrays.values():
        h.add(f"typedef struct {a.c_name()} {a.c_name()};\n")
    h.add("\n")
    for t in schema.defs:
        if isinstance(t, Enum):
            h.add(f"typedef enum {t.c_name()} {{\n")
            for v in t.values:
                h.add(f"\t{t.const(v)},\n")
            h.add(f"\t{t.max_const()}\n}} {t.c_name()};\n")
            h.add(f"extern const char *const {t.c_name()}_str[];\n\n")
            c.add(f"const char *const {t.c_name()}_str[] = {{\n")
            for v in t.values:
                c.add(f"\t[{t.const(v)}] = \"{v}\",\n")
            c.add("\tNULL\n};\n\n")
    # structs are emitted in dependency order since members embed by value
    done = set()

    def emit(t):
        if t.name in done or isinstance(t, (Builtin, Enum)):
            return
        done.add(t.name)
        if isinstance(t, Array):
            emit_array_decl(t)
            return
        deps = []
        if isinstance(t, Object):
            deps = [m.type for m in t.all_members()] + [b for _, b in t.variants]
        elif isinstance(t, Alternate):
            deps = [m.type for m in t.members]
        for d in deps:
            if not isinstance(d, Array):
                emit(d)
        for d in deps:
            if isinstance(d, Array):
                emit(d)
        if isinstance(t, Object):
            h.add(f"struct {t.c_name()} {{\n")
            for m in t.all_members():
                h.add(member_decl(m))
            if t.variants:
                h.add("\tunion {\n")
                for tag, b in t.variants:
                    h.add(f"\t\t{b.c_name()} {c_name(tag)};\n")
                h.add("\t} u;\n")
            if not t.all_members() and not t.variants:
                h.add("\tchar q_unused;\n")
            h.add("};\n")
        else:
            h.add(f"struct {t.c_name()} {{\n\tenum kmig_qtype type;\n\tunion {{\n")
            for m in t.members:
                if not (isinstance(m.type, Builtin) and m.type.name == "null"):
                    h.add(f"\t\t{m.type.c_type()} {m.c_name()};\n")
            h.add("\t\tchar q_unused;\n\t} u;\n};\n")
        h.add(f"void qapi_clear_{t.c_name()}({t.c_name()} *p);\n\n")

    def emit_array_decl(a):
        el = a.element
        ctype = el.c_type()
        h.add(f"struct {a.c_name()} {{\n\tsize_t n;\n\t{ctype} *v;\n}};\n")
        h.add(f"void qapi_clear_{a.c_name()}({a.c_name()} *p);\n\n")

    for t in list(schema.defs) + list(schema.arrays.values()):
        emit(t)

    for t in schema.defs:
        if isinstance(t, Object):
            c.add(f"void qapi_clear_{t.c_name()}({t.c_name()} *p)\n{{\n")
            body = [clear_call(m.type, "p->" + m.c_name()) for m in t.all_members()]
            body = [b for b in body if b]
            if t.variants:
                body.append(f"switch (p->{t.disc_member.c_name()}) {{")
                for tag, b in t.variants:
                    body.append(f"case {t.disc_member.type.const(tag)}: "
                                f"qapi_clear_{b.c_name()}(&p->u.{c_name(tag)}); break;")
                body.append("default: break;\n\t}")
            if not body:
                body = ["(void)p;"]
            c.add("".join(f"\t{b}\n" for b in body) + "}\n\n")
        elif isinstance(t, Alternate):
            c.add(f"void qapi_clear_{t.c_name()}({t.c_name()} *p)\n{{\n\tswitch (p->type) {{\n")
            for m in t.members:
                call = clear_call(m.type, "p->u." + m.c_name())
                if call:
                    c.add(f"\tcase {qtype_const(m.type)}: {call} break;\n")
            c.add("\tdefault: break;\n\t}\n\tp->type = KMIG_QTYPE_NONE;\n}\n\n")
    for a in schema.arrays.values():
        c.add(f"void qapi_clear_{a.c_name()}({a.c_name()} *p)\n{{\n")
        call = clear_call(a.element, "p->v[i]")
        if call:
            c.add(f"\tfor (size_t i = 0; p->v && i < p->n; i++)\n\t\t{call}\n")
        c.add("\tfree(p->v);\n\tp->v = NULL;\n\tp->n = 0;\n}\n\n")
    h.add("#endif\n")
    h.write(outdir)
    c.write(outdir)


def qtype_const(t):
    from schema import json_kind
    return {"string": "KMIG_QTYPE_STRING", "boolean": "KMIG_QTYPE_BOOL",
            "null": "KMIG_QTYPE_NULL", "number": "KMIG_QTYPE_NUM",
            "object": "KMIG_QTYPE_DICT", "array": "KMIG_QTYPE_LIST"}[json_kind(t)]
