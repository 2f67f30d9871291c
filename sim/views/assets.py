"""The browser visualiser's JavaScript and CSS, fetched from the npm registry into solara's
asset cache.

solara's page loads its front end (Vue, Vuetify, solara's own widgets, Font Awesome) through a
CDN proxy that fetches each file from a public CDN on first use and caches it. A machine that
cannot reach that CDN would show a blank page. The same files are the contents of npm packages,
so `ensure_browser_assets` puts each package the page needs, and the cache lacks, there with
`npm pack`, before the server starts.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path


def browser_asset_packages() -> list[str]:
    """The npm packages (`name@version`) whose files solara's page loads through its CDN proxy,
    read from solara's own page template so they follow solara's version."""
    import ipyvue
    import solara.server
    import solara.server.settings as server_settings

    template = Path(solara.server.__file__).parent / "templates" / "solara.html.j2"
    specs = re.findall(r"\{\{\s*cdn\s*\}\}/((?:@[\w.-]+/)?[\w.-]+@[\w.-]+)/", template.read_text())
    # The template loads the Vuetify 3 build of solara's front end with ipyvue 3, else Vuetify 2.
    vue3 = ipyvue.__version__.startswith("3")
    specs = [s for s in specs if "solara-vuetify" not in s or ("vuetify3" in s) == vue3]
    fontawesome = server_settings.assets.fontawesome_path.strip("/").split("/")[0]
    if server_settings.assets.fontawesome_enabled and "@" in fontawesome:
        specs.append(fontawesome)
    return list(dict.fromkeys(specs))


def ensure_browser_assets(log: Callable[[str], None] = print) -> list[str]:
    """Put the page's JavaScript and CSS in solara's asset cache where they are missing: each
    missing package is fetched with `npm pack` (when `npm` is installed) and unpacked into the
    cache. Returns the packages still missing (those solara will try its CDN for)."""
    import solara.server.settings as server_settings

    cache = Path(server_settings.assets.proxy_cache_dir)
    missing = [spec for spec in browser_asset_packages() if not (cache / spec).is_dir()]
    npm = shutil.which("npm")
    if not missing or npm is None:
        return missing
    log(f"fetching the page's browser assets with npm (first start only): {', '.join(missing)}")
    still_missing = []
    for spec in missing:
        with tempfile.TemporaryDirectory() as tmp:
            try:
                subprocess.run(
                    [npm, "pack", spec, "--pack-destination", tmp, "--silent"],
                    cwd=tmp,
                    check=True,
                    capture_output=True,
                    timeout=300,
                )
                (tarball,) = Path(tmp).glob("*.tgz")
                unpacked = Path(tmp) / "unpacked"
                with tarfile.open(tarball) as archive:
                    archive.extractall(unpacked, filter="data")
                target = cache / spec
                target.parent.mkdir(parents=True, exist_ok=True)
                staged = target.parent / f".{target.name}.partial"
                shutil.rmtree(staged, ignore_errors=True)
                shutil.move(unpacked / "package", staged)
                staged.rename(target)
            except (OSError, ValueError, subprocess.SubprocessError, tarfile.TarError) as err:
                if (cache / spec).is_dir():  # another server starting at once put it there
                    continue
                log(
                    f"could not fetch {spec} with npm ({type(err).__name__}); solara will try its CDN"
                )
                still_missing.append(spec)
    return still_missing
