# SPDX-License-Identifier: GPL-2.0-only
"""Back end: command marshalling and the dispatch table (qapi-commands.[ch]).

For each command this declares the hand-written handler
    int qmp_<cmd>(struct kmig_qmp_ctx *ctx, [const Arg *args,] [Ret *ret,]
                  struct kmig_err *err);   /* 0, or -1 with err set */
and generates qmp_marshal_<cmd>(), which decodes and checks the arguments,
calls the handler, encodes the result and frees everything.  Commands marked
'gen': false get only a table entry; their marshaller is hand-written.
"""

from gen import CFile


def handler_proto(cmd):
    args = ["struct kmig_qmp_ctx *ctx"]
    if cmd.arg_type:
        args.append(f"const {cmd.arg_type.c_name()} *args")
    if cmd.ret_type:
        args.append(f"{cmd.ret_type.c_type()} *ret")
    args.append("struct kmig_err *err")
    return f"int qmp_{cmd.c_name()}(" + ", ".join(args) + ")"


def marshal_proto(cmd):
    return (f"int qmp_marshal_{cmd.c_name()}(struct kmig_qmp_ctx *ctx, struct json_object *args,\n"
            f"\t\tstruct json_object **ret, struct kmig_err *err)")


def gen(schema, src, outdir):
    h = CFile("qapi-commands.h", src)
    c = CFile("qapi-commands.c", src)
    h.add("#ifndef KMIG_QAPI_COMMANDS_H\n#define KMIG_QAPI_COMMANDS_H\n\n"
          "#include \"qapi-visit.h\"\n\n")
    c.add("#include \"qapi-commands.h\"\n\n")
    for cmd in schema.commands:
        if cmd.gen:
            h.add(handler_proto(cmd) + ";\n")
        h.add(marshal_proto(cmd) + ";\n")
        if not cmd.gen:
            continue
        a, r = cmd.arg_type, cmd.ret_type
        c.add(marshal_proto(cmd) + "\n{\n")
        if a:
            c.add(f"\t{a.c_name()} a = {{ 0 }};\n")
        else:
            c.add("\tstatic const char *const none[] = { NULL };\n")
        if r:
            c.add(f"\t{r.c_type()} r = {{ 0 }};\n" if not r.c_type().endswith("*") else
                  f"\t{r.c_type()}r = NULL;\n")
        c.add("\tstruct json_object *empty = NULL;\n\tint rc = -1;\n\n"
              "\tif (!args)\n\t\targs = empty = json_object_new_object();\n")
        if a:
            c.add(f"\tif (!visit_in_{a.c_name()}(args, NULL, NULL, &a, err))\n\t\tgoto out;\n")
        else:
            c.add("\tif (!kmig_in_check_struct(args, NULL, none, NULL, err))\n\t\tgoto out;\n")
        call = ["ctx"] + (["&a"] if a else []) + (["&r"] if r else []) + ["err"]
        c.add(f"\tif (qmp_{cmd.c_name()}({', '.join(call)}) < 0)\n\t\tgoto out;\n")
        if r:
            from schema import Builtin
            vn = r.name if isinstance(r, Builtin) else r.c_name()
            c.add(f"\t*ret = visit_out_{vn}(&r);\n")
        else:
            c.add("\t*ret = json_object_new_object();\n")
        c.add("\trc = 0;\nout:\n")
        if a:
            c.add(f"\tqapi_clear_{a.c_name()}(&a);\n")
        if r:
            from gen_types import clear_call
            cc = clear_call(r, "r")
            if cc:
                c.add(f"\t{cc}\n")
        c.add("\tjson_object_put(empty);\n\treturn rc;\n}\n\n")
    h.add("\nextern const struct kmig_qmp_command kmig_qmp_commands[];\n\n#endif\n")
    c.add("const struct kmig_qmp_command kmig_qmp_commands[] = {\n")
    for cmd in schema.commands:
        c.add(f"\t{{ \"{cmd.name}\", qmp_marshal_{cmd.c_name()} }},\n")
    c.add("\t{ NULL, NULL }\n};\n")
    h.write(outdir)
    c.write(outdir)
