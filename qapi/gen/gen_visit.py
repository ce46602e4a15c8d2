# SPDX-License-Identifier: GPL-2.0-only
"""Back end: JSON <-> C visitors (qapi-visit.[ch]).

visit_in_T() checks a json-c value against the schema and fills a C value,
with QEMU's exact error texts (they come from the runtime helpers in
userspace/qmp/qapi_rt.c); visit_out_T() builds the json-c value to send.
Every type, builtins included, has the same two signatures so that members,
array elements and alternate branches are visited uniformly.
"""

from gen import CFile
from gen_types import qtype_const
from schema import Alternate, Array, Builtin, Enum, Object, c_name


def vname(t):
    return t.name if isinstance(t, Builtin) else t.c_name()


def in_member(m, o="o", dst="out"):
    t = m.type
    lines = [f"\tkmig_qpath_member(p, sizeof(p), path, \"{m.name}\");",
             f"\tif (json_object_object_get_ex({o}, \"{m.name}\", &v)) {{"]
    if m.optional:
        lines.append(f"\t\t{dst}->has_{m.c_name()} = true;")
    lines.append(f"\t\tif (!visit_in_{vname(t)}(v, p, \"{m.name}\", &{dst}->{m.c_name()}, e))")
    lines.append("\t\t\treturn false;")
    if m.optional:
        lines.append("\t}")
    else:
        lines.append("\t} else {\n\t\treturn kmig_in_missing(p, e);\n\t}")
    return "\n".join(lines) + "\n"


def out_member(m, src="in"):
    call = f"json_object_object_add(o, \"{m.name}\", visit_out_{vname(m.type)}(&{src}->{m.c_name()}));"
    if m.optional:
        return f"\tif ({src}->has_{m.c_name()})\n\t\t{call}\n"
    return f"\t{call}\n"


def known_list(name, members):
    names = "".join(f"\"{m.name}\", " for m in members)
    return f"\tstatic const char *const {name}[] = {{ {names}NULL }};\n"


def gen(schema, src, outdir):
    h = CFile("qapi-visit.h", src)
    c = CFile("qapi-visit.c", src)
    h.add("#ifndef KMIG_QAPI_VISIT_H\n#define KMIG_QAPI_VISIT_H\n\n#include \"qapi-types.h\"\n\n")
    c.add("#include <stdlib.h>\n#include \"qapi-visit.h\"\n\n")
    types = list(schema.defs) + list(schema.arrays.values())
    for t in types:
        ct = t.c_name()
        h.add(f"bool visit_in_{ct}(struct json_object *o, const char *path, const char *name,\n"
              f"\t\t{t.c_type()} *out, struct kmig_err *e);\n"
              f"struct json_object *visit_out_{ct}(const {t.c_type()} *in);\n")
        if isinstance(t, Object):
            h.add(f"bool visit_in_{ct}_fields(struct json_object *o, const char *path, {ct} *out,\n"
                  f"\t\tstruct kmig_err *e);\n"
                  f"void visit_out_{ct}_fields(const {ct} *in, struct json_object *o);\n")
    h.add("\n#endif\n")
    for t in types:
        if isinstance(t, Enum):
            gen_enum(c, t)
        elif isinstance(t, Object):
            gen_object(c, t)
        elif isinstance(t, Array):
            gen_array(c, t)
        elif isinstance(t, Alternate):
            gen_alternate(c, t)
    h.write(outdir)
    c.write(outdir)


def gen_enum(c, t):
    ct = t.c_name()
    c.add(f"bool visit_in_{ct}(struct json_object *o, const char *path, const char *name,\n"
          f"\t\t{ct} *out, struct kmig_err *e)\n{{\n\tint v;\n\n"
          f"\tif (!kmig_in_enum(o, path, name, {ct}_str, {t.max_const()}, &v, e))\n\t\treturn false;\n"
          f"\t*out = ({ct})v;\n\treturn true;\n}}\n\n"
          f"struct json_object *visit_out_{ct}(const {ct} *in)\n{{\n"
          f"\treturn json_object_new_string({ct}_str[*in]);\n}}\n\n")


def gen_object(c, t):
    ct = t.c_name()
    # _fields: members only (no unexpected-member check), used for bases
    c.add(f"bool visit_in_{ct}_fields(struct json_object *o, const char *path, {ct} *out,\n"
          f"\t\tstruct kmig_err *e)\n{{\n")
    if t.all_members():
        c.add("\tstruct json_object *v;\n\tchar p[KMIG_QPATH_MAX];\n\n")
        for m in t.all_members():
            c.add(in_member(m))
    else:
        c.add("\t(void)o; (void)path; (void)out; (void)e;\n")
    c.add("\treturn true;\n}\n\n")
    c.add(f"bool visit_in_{ct}(struct json_object *o, const char *path, const char *name,\n"
          f"\t\t{ct} *out, struct kmig_err *e)\n{{\n\t(void)name;\n")
    c.add(known_list("known", t.all_members()))
    c.add("\tif (!kmig_in_object(o, path, e))\n\t\treturn false;\n")
    c.add(f"\tif (!visit_in_{ct}_fields(o, path, out, e))\n\t\treturn false;\n")
    if t.variants:
        c.add(f"\tswitch (out->{t.disc_member.c_name()}) {{\n")
        for tag, b in t.variants:
            f = c_name(tag)
            c.add(f"\tcase {t.disc_member.type.const(tag)}: {{\n")
            c.add(known_list("bknown", b.all_members()))
            c.add(f"\t\treturn visit_in_{b.c_name()}_fields(o, path, &out->u.{f}, e) &&\n"
                  f"\t\t\tkmig_in_check_struct(o, path, known, bknown, e);\n\t}}\n")
        c.add("\tdefault:\n\t\tbreak;\n\t}\n")
    c.add("\treturn kmig_in_check_struct(o, path, known, NULL, e);\n}\n\n")
    c.add(f"void visit_out_{ct}_fields(const {ct} *in, struct json_object *o)\n{{\n")
    body = "".join(out_member(m) for m in t.all_members())
    if t.variants:
        body += f"\tswitch (in->{t.disc_member.c_name()}) {{\n"
        for tag, b in t.variants:
            body += (f"\tcase {t.disc_member.type.const(tag)}:\n"
                     f"\t\tvisit_out_{b.c_name()}_fields(&in->u.{c_name(tag)}, o);\n\t\tbreak;\n")
        body += "\tdefault:\n\t\tbreak;\n\t}\n"
    c.add(body or "\t(void)in; (void)o;\n")
    c.add("}\n\n")
    c.add(f"struct json_object *visit_out_{ct}(const {ct} *in)\n{{\n"
          f"\tstruct json_object *o = json_object_new_object();\n\n"
          f"\tvisit_out_{ct}_fields(in, o);\n\treturn o;\n}}\n\n")


def gen_array(c, a):
    ct, el = a.c_name(), a.element
    c.add(f"bool visit_in_{ct}(struct json_object *o, const char *path, const char *name,\n"
          f"\t\t{ct} *out, struct kmig_err *e)\n{{\n"
          f"\tchar p[KMIG_QPATH_MAX];\n\tsize_t n;\n\n\t(void)name;\n"
          f"\tif (!kmig_in_array(o, path, e))\n\t\treturn false;\n"
          f"\tn = json_object_array_length(o);\n"
          f"\tout->v = calloc(n ? n : 1, sizeof(*out->v));\n"
          f"\tif (!out->v)\n\t\treturn kmig_in_nomem(e);\n\tout->n = n;\n"
          f"\tfor (size_t i = 0; i < n; i++) {{\n"
          f"\t\tkmig_qpath_index(p, sizeof(p), path, i);\n"
          f"\t\tif (!visit_in_{vname(el)}(json_object_array_get_idx(o, i), p, NULL, &out->v[i], e))\n"
          f"\t\t\treturn false;\n\t}}\n\treturn true;\n}}\n\n")
    c.add(f"struct json_object *visit_out_{ct}(const {ct} *in)\n{{\n"
          f"\tstruct json_object *o = json_object_new_array();\n\n"
          f"\tfor (size_t i = 0; i < in->n; i++)\n"
          f"\t\tjson_object_array_add(o, visit_out_{vname(el)}(&in->v[i]));\n\treturn o;\n}}\n\n")


def gen_alternate(c, t):
    ct = t.c_name()
    c.add(f"bool visit_in_{ct}(struct json_object *o, const char *path, const char *name,\n"
          f"\t\t{ct} *out, struct kmig_err *e)\n{{\n\tswitch (kmig_qtype_of(o)) {{\n")
    for m in t.members:
        q = qtype_const(m.type)
        c.add(f"\tcase {q}:\n\t\tout->type = {q};\n")
        if isinstance(m.type, Builtin) and m.type.name == "null":
            c.add("\t\treturn true;\n")
        else:
            c.add(f"\t\treturn visit_in_{vname(m.type)}(o, path, name, &out->u.{m.c_name()}, e);\n")
    c.add(f"\tdefault:\n\t\treturn kmig_in_type_error(path, \"{t.name}\", e);\n\t}}\n}}\n\n")
    c.add(f"struct json_object *visit_out_{ct}(const {ct} *in)\n{{\n\tswitch (in->type) {{\n")
    for m in t.members:
        if isinstance(m.type, Builtin) and m.type.name == "null":
            c.add(f"\tcase {qtype_const(m.type)}:\n\t\treturn NULL;\n")
        else:
            c.add(f"\tcase {qtype_const(m.type)}:\n\t\treturn visit_out_{vname(m.type)}(&in->u.{m.c_name()});\n")
    c.add("\tdefault:\n\t\treturn NULL;\n\t}\n}\n\n")
