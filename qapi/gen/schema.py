# SPDX-License-Identifier: GPL-2.0-only
"""Turns parsed QAPI expressions into a checked model that back ends walk.

Why it exists: every generator (types, visitors, commands, events,
introspection) reads the same model, so the checks live here once: unknown
keys, bad or reserved names, duplicate definitions and C name clashes,
unknown or misused types, types that contain themselves, member clashes,
union and alternate rules.  Errors name the schema file and line.
"""

import re

from error import QAPIError

C_KEYWORDS = {
    "auto", "break", "case", "char", "const", "continue", "default", "do",
    "double", "else", "enum", "extern", "float", "for", "goto", "if",
    "inline", "int", "long", "register", "restrict", "return", "short",
    "signed", "sizeof", "static", "struct", "switch", "typedef", "union",
    "unsigned", "void", "volatile", "while", "bool", "true", "false",
    "unix", "linux",
}


def c_name(name):
    """Schema name -> C identifier (dashes and dots become '_')."""
    s = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return "q_" + s if s in C_KEYWORDS else s


def camel_to_upper(name):
    """MigrationStatus -> MIGRATION_STATUS, COLOMessage -> COLO_MESSAGE."""
    out = []
    for i, ch in enumerate(name):
        if i and ch.isupper():
            prev, nxt = name[i - 1], name[i + 1] if i + 1 < len(name) else ""
            if prev.islower() or prev.isdigit() or (prev.isupper() and nxt.islower()):
                out.append("_")
        out.append(ch)
    return c_name("".join(out)).upper()


# name -> (C type, JSON type for introspection, C runtime suffix, max)
BUILTINS = {
    "str": ("char *", "string", "str", None),
    "number": ("double", "number", "number", None),
    "int": ("int64_t", "int", "int", None),
    "int8": ("int8_t", "int", "int", 8),
    "int16": ("int16_t", "int", "int", 16),
    "int32": ("int32_t", "int", "int", 32),
    "int64": ("int64_t", "int", "int", 64),
    "uint8": ("uint8_t", "int", "uint", 8),
    "uint16": ("uint16_t", "int", "uint", 16),
    "uint32": ("uint32_t", "int", "uint", 32),
    "uint64": ("uint64_t", "int", "uint", 64),
    "size": ("uint64_t", "int", "uint", 64),
    "bool": ("bool", "boolean", "bool", None),
    "null": ("char", "null", "null", None),
    "any": ("struct json_object *", "value", "any", None),
}


class Type:
    kind = ""

    def __init__(self, name, info):
        self.name = name
        self.info = info

    def c_name(self):
        return c_name(self.name)

    def c_type(self):
        return self.c_name()


class Builtin(Type):
    kind = "builtin"

    def __init__(self, name):
        super().__init__(name, None)
        self.ctype, self.json_type, self.rt, self.bits = BUILTINS[name]

    def c_type(self):
        return self.ctype


class Enum(Type):
    kind = "enum"

    def __init__(self, name, info, values):
        super().__init__(name, info)
        self.values = values

    def const(self, value):
        # constants are prefixed, so C keywords and macros cannot clash here
        return camel_to_upper(self.name) + "_" + re.sub(r"[^A-Za-z0-9_]", "_", value).upper()

    def max_const(self):
        return camel_to_upper(self.name) + "__MAX"


class Member:
    def __init__(self, name, type_name, optional, info):
        self.name = name
        self.type_name = type_name
        self.optional = optional
        self.info = info
        self.type = None

    def c_name(self):
        return c_name(self.name)


class Object(Type):
    """A struct, a flat union (variants), or the implicit argument object
    of a command or event (implicit=True: not named in the schema)."""

    kind = "object"

    def __init__(self, name, info, members, base_name=None, implicit=False):
        super().__init__(name, info)
        self.local_members = members
        self.base_name = base_name
        self.base = None
        self.implicit = implicit
        self.discriminator = None  # Member of base, for unions
        self.variants = []  # [(tag value, Object)]

    def all_members(self):
        return (self.base.all_members() if self.base else []) + self.local_members


class Array(Type):
    kind = "array"

    def __init__(self, element):
        super().__init__(element.name + "List", None)
        self.element = element

    def c_name(self):
        return c_name(self.element.name) + "List"

    def intro_name(self):
        return "[" + self.element.name + "]"


class Alternate(Type):
    kind = "alternate"

    def __init__(self, name, info, members):
        super().__init__(name, info)
        self.members = members  # [Member]


class Command:
    def __init__(self, name, info, arg_type, ret_type, boxed, gen):
        self.name = name
        self.info = info
        self.arg_type = arg_type
        self.ret_type = ret_type
        self.boxed = boxed
        self.gen = gen

    def c_name(self):
        return c_name(self.name)


class Event:
    def __init__(self, name, info, arg_type):
        self.name = name
        self.info = info
        self.arg_type = arg_type


ALLOWED_KEYS = {
    "struct": {"struct", "data", "base"},
    "enum": {"enum", "data"},
    "union": {"union", "base", "discriminator", "data"},
    "alternate": {"alternate", "data"},
    "command": {"command", "data", "returns", "boxed", "gen"},
    "event": {"event", "data"},
}

NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")


class Schema:
    def __init__(self, exprs):
        self.types = {n: Builtin(n) for n in BUILTINS}
        self.arrays = {}
        self.commands = []
        self.events = []
        self.defs = []  # user-defined types, schema order
        for expr, info in exprs:
            self._define(expr, info)
        # before resolving: a base cycle would recurse forever there
        self._check_cycles(lambda t: [t.base_name] if isinstance(t, Object) else [],
                           "has itself as a base")
        self._check_cycles(embedded, "contains itself by value")
        for t in list(self.defs):
            self._resolve(t)
        for c in self.commands:
            self._resolve_command(c)
        for e in self.events:
            if e.arg_type:
                self._resolve(e.arg_type)

    # -- definition -----------------------------------------------------
    def _check_name(self, name, info, what):
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise QAPIError(info, f"{what} is invalid")
        if re.sub(r"[.-]", "_", name).startswith("q_"):  # q_obj_*, q_unused, ...
            raise QAPIError(info, f"{what} is reserved for the generator")

    def _check_new_type(self, name, info):
        if name in self.types or any(c.name == name for c in self.commands):
            raise QAPIError(info, f"'{name}' is already defined")
        other = next((t.name for t in self.defs if t.c_name() == c_name(name)), None)
        if other:
            raise QAPIError(info, f"'{name}' clashes with '{other}'")

    def _add_type(self, t):
        self._check_new_type(t.name, t.info)
        self.types[t.name] = t
        self.defs.append(t)

    def _members(self, data, info, owner):
        if not isinstance(data, dict):
            raise QAPIError(info, f"'data' of '{owner}' must be an object")
        out, seen = [], set()
        for key, typ in data.items():
            optional = key.startswith("*")
            name = key[1:] if optional else key
            self._check_name(name, info, f"'{owner}' member '{name}'")
            if c_name(name) == "u" or c_name(name).startswith("has_"):  # union field, has_ flags
                raise QAPIError(info, f"'{owner}' member '{name}' is reserved for the generator")
            if c_name(name) in seen:
                raise QAPIError(info, f"'{owner}' member '{name}' clashes with another member")
            seen.add(c_name(name))
            if isinstance(typ, list):
                if len(typ) != 1 or not isinstance(typ[0], str):
                    raise QAPIError(info, f"'{owner}' member '{name}': array type must name exactly one type")
            elif not isinstance(typ, str):
                raise QAPIError(info, f"'{owner}' member '{name}' must name a type")
            out.append(Member(name, typ, optional, info))
        return out

    def _define(self, expr, info):
        meta = next((k for k in ALLOWED_KEYS if k in expr), None)
        if meta is None:
            raise QAPIError(info, "expression is missing metatype")
        extra = set(expr) - ALLOWED_KEYS[meta]
        if extra:
            raise QAPIError(info, f"{meta} has unknown key '{sorted(extra)[0]}'")
        name = expr[meta]
        self._check_name(name, info, f"{meta} name '{name}'")
        if meta not in ("command", "event") and name.endswith("List"):
            raise QAPIError(info, f"{meta} name '{name}' can't end in 'List' (array types do)")
        if meta == "enum":
            vals = expr.get("data")
            if not isinstance(vals, list) or not all(isinstance(v, str) for v in vals):
                raise QAPIError(info, f"enum '{name}' data must be a list of strings")
            for v in vals:
                self._check_name(v, info, f"enum '{name}' value '{v}'")
            if len({c_name(v).upper() for v in vals}) != len(vals):
                raise QAPIError(info, f"enum '{name}' has clashing values")
            self._add_type(Enum(name, info, vals))
        elif meta == "struct":
            base = expr.get("base")
            if base is not None and not isinstance(base, str):
                raise QAPIError(info, f"'base' of struct '{name}' must name a struct")
            self._add_type(Object(name, info, self._members(expr.get("data", {}), info, name), base))
        elif meta == "union":
            self._define_union(name, expr, info)
        elif meta == "alternate":
            members = self._members(expr.get("data"), info, name)
            if not members:
                raise QAPIError(info, f"alternate '{name}' has no branches")
            if any(m.optional for m in members):
                raise QAPIError(info, f"alternate '{name}' branches can't be optional")
            self._add_type(Alternate(name, info, members))
        elif meta == "command":
            self._define_command(name, expr, info)
        else:
            data = expr.get("data")
            arg = None
            if data is not None:
                if not isinstance(data, dict):
                    raise QAPIError(info, f"'data' of event '{name}' must be an object")
                arg = Object("q_obj_" + name + "-arg", info, self._members(data, info, name), implicit=True)
            if any(e.name == name for e in self.events):
                raise QAPIError(info, f"event '{name}' is already defined")
            other = next((e.name for e in self.events
                          if c_name(e.name.lower()) == c_name(name.lower())), None)
            if other:  # both would be qapi_event_send_<lower-case name>
                raise QAPIError(info, f"event '{name}' clashes with '{other}'")
            self.events.append(Event(name, info, arg))

    def _define_union(self, name, expr, info):
        base = expr.get("base")
        disc = expr.get("discriminator")
        data = expr.get("data")
        if not isinstance(disc, str):
            raise QAPIError(info, f"union '{name}' needs a 'discriminator'")
        self._check_new_type(name, info)  # before adding its implicit base
        if isinstance(base, dict):
            base_obj = Object("q_obj_" + name + "-base", info, self._members(base, info, name), implicit=True)
            self._add_type(base_obj)
            base = base_obj.name
        if not isinstance(base, str) or not isinstance(data, dict):
            raise QAPIError(info, f"union '{name}' needs a 'base' and 'data'")
        for tag, typ in data.items():
            if not isinstance(typ, str):
                raise QAPIError(info, f"union '{name}' branch '{tag}' must name a struct type")
        u = Object(name, info, [], base)
        u.discriminator = disc
        u.variants = [(tag, typ) for tag, typ in data.items()]
        self._add_type(u)

    def _define_command(self, name, expr, info):
        data = expr.get("data")
        boxed = expr.get("boxed", False)
        gen = expr.get("gen", True)
        if not isinstance(boxed, bool) or not isinstance(gen, bool):
            raise QAPIError(info, f"'boxed' and 'gen' of command '{name}' must be booleans")
        if any(c.name == name for c in self.commands) or name in self.types:
            raise QAPIError(info, f"command '{name}' is already defined")
        other = next((c.name for c in self.commands if c.c_name() == c_name(name)), None)
        if other:
            raise QAPIError(info, f"command '{name}' clashes with '{other}'")
        if boxed and not isinstance(data, str):
            raise QAPIError(info, f"'boxed' command '{name}' must name its argument type")
        if isinstance(data, dict):
            arg = Object("q_obj_" + name + "-arg", info, self._members(data, info, name), implicit=True)
            self._add_type(arg)
        elif isinstance(data, str) or data is None:
            arg = data
        else:
            raise QAPIError(info, f"'data' of command '{name}' must be an object or a type name")
        ret = expr.get("returns")
        if ret is not None and not (isinstance(ret, str) or
                                    (isinstance(ret, list) and len(ret) == 1 and isinstance(ret[0], str))):
            raise QAPIError(info, f"'returns' of command '{name}' must name a type or [type]")
        self.commands.append(Command(name, info, arg, ret, boxed, gen))

    def _check_cycles(self, edges, what):
        """Reject a type reachable from itself through edges(type) -> names."""
        done = set()

        def visit(t, path):
            if t.name in path:
                cycle = path[path.index(t.name):] + [t.name]
                via = f" ({' -> '.join(cycle)})" if len(cycle) > 2 else ""
                raise QAPIError(t.info, f"'{t.name}' {what}{via}")
            if t.name in done:
                return
            for name in edges(t):
                if isinstance(name, str) and name in self.types:  # unknown: reported later
                    visit(self.types[name], path + [t.name])
            done.add(t.name)

        for t in self.defs:
            visit(t, [])

    # -- resolution -----------------------------------------------------
    def lookup(self, ref, info, what):
        if isinstance(ref, list):
            elem = self.lookup(ref[0], info, what)
            if elem.name not in self.arrays:
                self.arrays[elem.name] = Array(elem)
            return self.arrays[elem.name]
        t = self.types.get(ref)
        if t is None:
            raise QAPIError(info, f"{what} uses unknown type '{ref}'")
        return t

    def _resolve(self, t):
        if isinstance(t, Object):
            if t.base_name and t.base is None:
                base = self.lookup(t.base_name, t.info, f"'{t.name}' base")
                if not isinstance(base, Object) or base.variants:
                    raise QAPIError(t.info, f"'base' of '{t.name}' must be a struct")
                self._resolve(base)
                t.base = base
            for m in t.local_members:
                m.type = self.lookup(m.type_name, m.info, f"member '{m.name}' of '{t.name}'")
                if isinstance(m.type, Builtin) and m.type.name == "null":
                    raise QAPIError(m.info, f"member '{m.name}' of '{t.name}' can't be 'null'")
            names = [m.c_name() for m in t.all_members()]
            if len(set(names)) != len(names):
                raise QAPIError(t.info, f"'{t.name}' members clash with its base")
            if t.discriminator:
                self._resolve_union(t)
        elif isinstance(t, Alternate):
            seen = set()
            for m in t.members:
                m.type = self.lookup(m.type_name, m.info, f"alternate '{t.name}'")
                jt = json_kind(m.type)
                if jt in seen or jt is None:
                    raise QAPIError(t.info, f"alternate '{t.name}' branch '{m.name}' can't be distinguished")
                seen.add(jt)

    def _resolve_union(self, u):
        disc = next((m for m in u.base.all_members() if m.name == u.discriminator), None)
        if disc is None or not isinstance(disc.type, Enum) or disc.optional:
            raise QAPIError(u.info, f"discriminator '{u.discriminator}' of '{u.name}' must be a required enum member of the base")
        u.disc_member = disc
        resolved = []
        for tag, typ in u.variants:
            if tag not in disc.type.values:
                raise QAPIError(u.info, f"union '{u.name}' branch '{tag}' is not a value of {disc.type.name}")
            bt = self.lookup(typ, u.info, f"union '{u.name}' branch '{tag}'")
            if not isinstance(bt, Object) or bt.variants:
                raise QAPIError(u.info, f"union '{u.name}' branch '{tag}' must be a struct")
            self._resolve(bt)
            base = {m.c_name() for m in u.base.all_members()}
            for m in bt.all_members():
                if m.c_name() in base:  # flat on the wire: one JSON object
                    raise QAPIError(u.info, f"union '{u.name}' branch '{tag}' member '{m.name}' clashes with the base")
            resolved.append((tag, bt))
        u.variants = resolved

    def _resolve_command(self, c):
        if isinstance(c.arg_type, str):
            t = self.lookup(c.arg_type, c.info, f"command '{c.name}'")
            if not isinstance(t, Object) or t.variants:
                raise QAPIError(c.info, f"'data' of command '{c.name}' must be a struct")
            c.arg_type = t
        if c.arg_type:
            self._resolve(c.arg_type)
        if c.ret_type is not None:
            c.ret_type = self.lookup(c.ret_type, c.info, f"'returns' of '{c.name}'")


def embedded(t):
    """Names of the types whose C value t holds by value (arrays are pointers)."""
    if isinstance(t, Object):
        return ([t.base_name] + [m.type_name for m in t.local_members] +
                [b for _, b in t.variants])
    if isinstance(t, Alternate):
        return [m.type_name for m in t.members]
    return []


def json_kind(t):
    """The JSON value kind a type takes on the wire (for alternates)."""
    if isinstance(t, Builtin):
        return {"str": "string", "bool": "boolean", "null": "null", "number": "number"}.get(
            t.name, "number" if t.json_type == "int" else None)
    if isinstance(t, Enum):
        return "string"
    if isinstance(t, Object):
        return "object"
    if isinstance(t, Array):
        return "array"
    return None
