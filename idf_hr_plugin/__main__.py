import os

# Debian's pyproj inside a venv cannot find its PROJ data on its own.
if "PROJ_DATA" not in os.environ and os.path.isdir("/usr/share/proj"):
    os.environ["PROJ_DATA"] = "/usr/share/proj"

from .cli import main  # noqa: E402

raise SystemExit(main())
