# SPDX-License-Identifier: GPL-2.0-only
"""Reads QAPI schema files (QEMU's JSON-like syntax) into ordered expressions.

Why it exists: the schema is kmig's single source of truth for the QMP wire
format; this stage only turns text into (expression, location) pairs and
follows 'include'. It knows nothing about what the expressions mean (that is
schema.py).  Syntax: UTF-8 text; single-quoted strings, true/false, {}, []
(nested at most MAX_DEPTH deep), and '#' comments; '##' blocks are
documentation and are skipped like comments.
"""

import os

from error import QAPIError

MAX_DEPTH = 64  # nesting of {} and []; deeper would exhaust Python's stack


class SourceInfo:
    """Where an expression starts: used by every error message."""

    def __init__(self, fname, line):
        self.fname = fname
        self.line = line

    def __str__(self):
        return f"{self.fname}:{self.line}"


class Parser:
    """Tokenizes and parses one file; includes are parsed recursively."""

    def __init__(self, fname, seen=None):
        self.fname = fname
        self.seen = seen if seen is not None else set()
        self.seen.add(os.path.realpath(fname))
        with open(fname, "rb") as f:
            raw = f.read()
        try:
            self.src = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            line = raw.count(b"\n", 0, e.start) + 1
            raise QAPIError(SourceInfo(fname, line), "not valid UTF-8") from None
        self.pos = 0
        self.line = 1
        self.depth = 0
        self.exprs = []
        self._parse_file()

    # -- tokens ---------------------------------------------------------
    def _err(self, msg):
        line = self.line
        if self.pos >= len(self.src):  # at EOF: the last line, not the one after it
            line = self.src.count("\n", 0, len(self.src.rstrip())) + 1
        raise QAPIError(SourceInfo(self.fname, line), msg)

    def _skip_space(self):
        while self.pos < len(self.src):
            c = self.src[self.pos]
            if c == "#":
                nl = self.src.find("\n", self.pos)
                self.pos = len(self.src) if nl < 0 else nl
            elif c == "\n":
                self.line += 1
                self.pos += 1
            elif c in " \t\r":
                self.pos += 1
            else:
                return

    def _peek(self):
        self._skip_space()
        return self.src[self.pos] if self.pos < len(self.src) else ""

    def _expect(self, ch):
        if self._peek() != ch:
            self._err(f"expected '{ch}'")
        self.pos += 1

    def _string(self):
        self._expect("'")
        out = []
        while True:
            if self.pos >= len(self.src):
                self._err("missing terminating \"'\"")
            c = self.src[self.pos]
            self.pos += 1
            if c == "'":
                return "".join(out)
            if c == "\n":
                self._err("missing terminating \"'\"")
            if c == "\\":
                if self.pos >= len(self.src):
                    self._err("missing terminating \"'\"")
                c = self.src[self.pos]
                self.pos += 1
                if c not in "\\'\"/":
                    self._err(f"unknown escape \\{c}")
            out.append(c)

    def _value(self):
        c = self._peek()
        if c in ("{", "["):
            self.depth += 1
            if self.depth > MAX_DEPTH:
                self._err(f"nesting deeper than {MAX_DEPTH}")
            val = self._object() if c == "{" else self._array()
            self.depth -= 1
            return val
        if c == "'":
            return self._string()
        for word, val in (("true", True), ("false", False)):
            if self.src.startswith(word, self.pos):
                self.pos += len(word)
                return val
        self._err("expected '{', '[', string, or boolean")
        return None

    def _object(self):
        self._expect("{")
        out = {}
        if self._peek() == "}":
            self.pos += 1
            return out
        while True:
            if self._peek() != "'":
                self._err("expected string")
            key = self._string()
            if key in out:
                self._err(f"duplicate key '{key}'")
            self._expect(":")
            out[key] = self._value()
            c = self._peek()
            self.pos += 1
            if c == "}":
                return out
            if c != ",":
                self._err("expected ',' or '}'")

    def _array(self):
        self._expect("[")
        out = []
        if self._peek() == "]":
            self.pos += 1
            return out
        while True:
            out.append(self._value())
            c = self._peek()
            self.pos += 1
            if c == "]":
                return out
            if c != ",":
                self._err("expected ',' or ']'")

    # -- file -----------------------------------------------------------
    def _parse_file(self):
        while self._peek():
            if self._peek() != "{":
                self._err("expected '{' at top level")
            info = SourceInfo(self.fname, self.line)
            expr = self._object()
            if "include" in expr:
                self._include(expr, info)
            else:
                self.exprs.append((expr, info))

    def _include(self, expr, info):
        if len(expr) != 1 or not isinstance(expr["include"], str):
            raise QAPIError(info, "invalid 'include' directive")
        path = os.path.join(os.path.dirname(self.fname), expr["include"])
        if os.path.realpath(path) in self.seen:
            return  # each file once, like QEMU
        try:
            self.exprs.extend(Parser(path, self.seen).exprs)
        except OSError as e:  # the file's own includes catch theirs
            raise QAPIError(info, f"can't read include file '{expr['include']}': {e.strerror}") from None
