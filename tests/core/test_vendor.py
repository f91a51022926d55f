"""The repository stands on its own: vendored files as documented, nothing outside the clone.

``static/vendor/VERSIONS.md`` lists each vendored browser file with its sha256 as shipped; the
files carry no ``sourceMappingURL`` line (their maps are not shipped, and the production static
storage refuses a reference to a missing file). No tracked file names the folder beside the
checkout that the project's own development machine has (a user's clone has nothing beside it).
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path

from tests.conftest import REPO

VENDOR = REPO / "static" / "vendor"
ROW = re.compile(r"^\| [^|]+ \| [^|]+ \| [^|]+ \| `([^`]+)` \| `([0-9a-f]{64})` \|", re.M)
OUTSIDE = "../" + "shared"  # spelled in two parts so that this file does not name it


def test_vendored_files_are_the_documented_ones_without_source_map_references() -> None:
    rows = ROW.findall((VENDOR / "VERSIONS.md").read_text())
    shipped = sorted(path.relative_to(VENDOR).as_posix() for path in VENDOR.glob("*/*.js"))
    assert sorted(name for name, _ in rows) == shipped
    for name, digest in rows:
        data = (VENDOR / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == digest, name
        assert not re.search(rb"(?m)^//# sourceMappingURL=", data), name
    assert not list(VENDOR.rglob("*.map"))


def test_no_tracked_file_reaches_outside_the_repository() -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True
    ).stdout.split(b"\0")
    offenders = []
    for name in filter(None, tracked):
        path = Path(REPO, name.decode())
        if path.is_file() and OUTSIDE.encode() in path.read_bytes():
            offenders.append(name.decode())
    assert offenders == []
