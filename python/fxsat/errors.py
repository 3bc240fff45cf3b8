"""fxsat's exceptions (no torch, no native code: importable everywhere).

* ``FxsatError`` (a ``ValueError``): the input or the request is bad (malformed graph, rules,
  profile, an option out of range); the message is the command line's one line, naming the
  file (or graph), node and field.
* ``FxsatInternalError`` (a ``RuntimeError``): fxsat failed on its own (a bug, a panic caught at
  the native boundary).
"""


class FxsatError(ValueError):
    """Bad input or request: the message names the graph, node and field."""


class FxsatInternalError(RuntimeError):
    """fxsat's own failure (not the input's)."""
