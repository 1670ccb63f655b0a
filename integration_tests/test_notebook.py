"""Runs ``notebooks/03_multi_agent_intelligence.ipynb`` top to bottom, so the notebook never rots.

The notebook records a simulated multi-agent workflow through the real pipeline (Parquet in a
temporary folder) and ends with assertions that the analyses find the problems it planted, so a
regression in ``llamonitor.analytics`` fails here.

The kernel is this interpreter (an explicit kernel spec with ``sys.executable`` in a temporary
kernel folder: no user or system kernel spec is used, nothing needs installing), its working
directory is ``tmp_path`` and every Jupyter / IPython folder points into ``tmp_path``. The root
conftest's network guard only covers this process, so a first cell installs the same
loopback-only rule in the kernel.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "03_multi_agent_intelligence.ipynb"

#: runs in the kernel before the notebook's first cell
KERNEL_NETWORK_GUARD = """
import ipaddress as _ipaddress, socket as _socket

def _loopback_only(host):
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    host = str(host).strip("[]").split("%", 1)[0].lower()
    if host in ("", "localhost") or host.endswith(".localhost"):
        return
    try:
        ip = _ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if ip is None or not (ip.is_loopback or ip.is_unspecified):
        raise RuntimeError(f"network access to {host!r} blocked while testing the notebook (loopback only)")

def _guard(original):
    def guarded(self, address):
        if self.family != getattr(_socket, "AF_UNIX", None) and isinstance(address, tuple) and address:
            _loopback_only(address[0])
        return original(self, address)
    return guarded

_socket.socket.connect = _guard(_socket.socket.connect)
_socket.socket.connect_ex = _guard(_socket.socket.connect_ex)
_original_getaddrinfo = _socket.getaddrinfo

def _guarded_getaddrinfo(host, *args, **kwargs):
    if host is not None:
        _loopback_only(host)
    return _original_getaddrinfo(host, *args, **kwargs)

_socket.getaddrinfo = _guarded_getaddrinfo
"""


def _kernel_manager(tmp_path: Path) -> AsyncKernelManager:
    """A kernel manager whose only ``python3`` kernel spec runs this interpreter."""
    spec_dir = tmp_path / "kernels" / "python3"
    spec_dir.mkdir(parents=True)
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Python 3 (llamonitor tests)", "language": "python"}
    (spec_dir / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    specs = KernelSpecManager(kernel_dirs=[str(spec_dir.parent)], ensure_native_kernel=False)
    return AsyncKernelManager(kernel_name="python3", kernel_spec_manager=specs)


@pytest.fixture
def jupyter_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keep Jupyter and IPython state (config, connection files, history) inside ``tmp_path``."""
    home = tmp_path / "jupyter-home"
    for var, sub in (("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data"),
                     ("JUPYTER_RUNTIME_DIR", "runtime"), ("IPYTHONDIR", "ipython")):
        (home / sub).mkdir(parents=True)
        monkeypatch.setenv(var, str(home / sub))
    monkeypatch.setenv("JUPYTER_PATH", str(home / "data"))
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    work = tmp_path / "work"
    work.mkdir()
    return work


def test_notebook_is_stored_without_outputs() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code
    assert [i for i, c in enumerate(code) if c.outputs or c.execution_count is not None] == []
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"


@pytest.mark.timeout(180)
def test_notebook_runs_and_finds_the_planted_problems(tmp_path: Path, jupyter_dirs: Path) -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(KERNEL_NETWORK_GUARD))
    client = NotebookClient(nb, km=_kernel_manager(tmp_path), timeout=120, startup_timeout=60,
                            allow_errors=False, resources={"metadata": {"path": str(jupyter_dirs)}})
    client.execute()  # raises CellExecutionError on the first failing cell

    code = [c for c in nb.cells[1:] if c.cell_type == "code"]
    outputs = [o for c in code for o in c.outputs]
    assert [o for o in outputs if o.output_type == "error"] == []
    assert all(c.execution_count is not None for c in code)

    svgs = [o.data["image/svg+xml"] for o in outputs
            if o.output_type == "display_data" and "image/svg+xml" in o.data]
    assert len(svgs) == 1, "the coordination graph is displayed inline as SVG"
    assert svgs[0].lstrip().startswith("<svg") and ">shipping</text>" in svgs[0]

    printed = "".join(o.text for o in outputs if o.output_type == "stream" and o.name == "stdout")
    assert "with high drift" in printed and "(order_number)" in printed
    assert code[-1].outputs[-1].text.strip() == "all checks passed"
