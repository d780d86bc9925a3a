"""Print the pinned requirements of pyproject.toml (plus the named extras), one a line.

The project runs from its checkout (manage.py, pytest), so only its dependencies are
installed, never the project itself.
"""

import sys
import tomllib
from pathlib import Path

project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())["project"]
lines = list(project["dependencies"])
for extra in sys.argv[1:]:
    lines += project["optional-dependencies"][extra]
print("\n".join(lines))
