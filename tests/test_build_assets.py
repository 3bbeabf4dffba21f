"""tools/build_assets.py: registry URLs, and downloads checked against their pinned sha512 (loopback server)."""
import base64
import hashlib
import http.server
import io
import sys
import tarfile
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import build_assets  # noqa: E402


def test_tarball_urls_follow_the_registry_layout(monkeypatch):
    monkeypatch.delenv("npm_config_registry", raising=False)
    assert build_assets.tarball_url("requirejs", "2.3.7") == "https://registry.npmjs.org/requirejs/-/requirejs-2.3.7.tgz"
    assert build_assets.tarball_url("@jupyter-widgets/html-manager", "1.0.15") == \
        "https://registry.npmjs.org/@jupyter-widgets/html-manager/-/html-manager-1.0.15.tgz"
    monkeypatch.setenv("npm_config_registry", "http://127.0.0.1:9/")
    assert build_assets.tarball_url("mathjax", "3.2.2") == "http://127.0.0.1:9/mathjax/-/mathjax-3.2.2.tgz"


def _tarball(text: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        data = text.encode()
        info = tarfile.TarInfo("package/require.js")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture
def registry():
    """A loopback 'registry' serving whatever bytes the test puts in `served`."""
    served: dict[str, bytes] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = served.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", served
    httpd.shutdown()
    httpd.server_close()


def test_fetch_checks_integrity_and_leaves_nothing_on_failure(registry, tmp_path, monkeypatch, no_network):
    url, served = registry
    good = _tarball("// require.js")
    integrity = "sha512-" + base64.b64encode(hashlib.sha512(good).digest()).decode()
    monkeypatch.setattr(build_assets, "PACKAGES", {"requirejs": ("2.3.7", integrity)})
    monkeypatch.setattr(build_assets, "RETRIES", 2)
    # a corrupted payload: refused, and no tarball left behind
    served["/requirejs/-/requirejs-2.3.7.tgz"] = good[:-10] + b"0123456789"
    with pytest.raises(build_assets.AssetError, match="does not match the pinned"):
        build_assets.fetch_tarballs(tmp_path, registry=url)
    assert list(tmp_path.iterdir()) == []
    # missing on the registry: a clear error naming the package and the URL
    served.clear()
    with pytest.raises(build_assets.AssetError, match=r"requirejs@2\.3\.7 from http://127\.0\.0\.1.*404"):
        build_assets.fetch_tarballs(tmp_path, registry=url)
    # the right bytes: accepted
    served["/requirejs/-/requirejs-2.3.7.tgz"] = good
    tarballs = build_assets.fetch_tarballs(tmp_path, registry=url)
    assert tarballs["requirejs"].read_bytes() == good


def test_the_checks_tools_are_fetched_apart_from_the_book_assets(registry, tmp_path, monkeypatch, no_network):
    url, served = registry
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in [("package/axe.min.js", "window.axe = {};"), ("package/LICENSE", "MPL-2.0"),
                           ("package/axe.js", "unminified")]:
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    tgz = buf.getvalue()
    integrity = "sha512-" + base64.b64encode(hashlib.sha512(tgz).digest()).decode()
    monkeypatch.setattr(build_assets, "CHECK_PACKAGES", {"axe-core": ("4.12.1", integrity)})
    monkeypatch.setenv("npm_config_registry", url)
    served["/axe-core/-/axe-core-4.12.1.tgz"] = tgz
    out = tmp_path / "check-assets"
    assert build_assets.build(out, checks=True) is True
    assert (out / "axe-core" / "axe.min.js").read_text() == "window.axe = {};"
    assert not (out / "axe-core" / "axe.js").exists()  # only what the checks load
    assert build_assets.is_current(out, checks=True) and not build_assets.is_current(out)
    assert build_assets.build(out, checks=True) is False  # already current: nothing fetched
    # a pin that does not match what the registry serves is refused
    monkeypatch.setattr(build_assets, "CHECK_PACKAGES", {"axe-core": ("4.12.1", "sha512-AAAA")})
    monkeypatch.setattr(build_assets, "RETRIES", 1)
    with pytest.raises(build_assets.AssetError, match="does not match the pinned"):
        build_assets.build(tmp_path / "other", checks=True)
