"""The `segdb` command line: one click group and the modules that add commands to it.

Imports only go down: :mod:`.group` defines the group (`cli`), its settings and shared helpers and
imports no command module; each command module (core, features, living, quality) imports from
:mod:`.group` and segdb's library (core also uses features' print_feature_extras), never from this
package; this file imports every command module, so `segdb`, `python -m segdb` and
`python -m segdb.cli` list every command.
"""

from __future__ import annotations

from .group import cli, main
from . import core, features, living, quality  # noqa: F401  register their commands on `cli`

__all__ = ["cli", "main"]
