# SPDX-License-Identifier: GPL-2.0-only
"""The one error type of the generator: it points at the schema, file:line."""


class QAPIError(Exception):
    def __init__(self, info, msg):
        super().__init__(msg)
        self.info = info
        self.msg = msg

    def __str__(self):
        return f"{self.info}: {self.msg}" if self.info else self.msg
