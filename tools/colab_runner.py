"""Execute one chapter as the simulated Colab's kernel client (run by tools/colab_sim.py in that venv).

    python colab_runner.py NOTEBOOK GIT_URL REPORT CELL_TIMEOUT

The chapter's setup cell gets ``GIT_URL`` instead of GitHub's. REPORT receives what the chapter imported and
the kernel's CPU time; ``REPORT.pid`` the kernel's process id; ``REPORT.progress`` the cell now running.
Only the standard library and Colab's own nbformat/nbclient are used: this runs in the simulated Colab.
"""
import json
import sys
import time
from queue import Empty

from colab_sim import CELL_URL  # stdlib only, so importable here; this script's folder is on sys.path


def sliced(get_msg, step: float = 1.0):
    """``get_msg`` waiting in slices of ``step`` seconds, with the same timeout (None: for ever) and Empty.

    Colab's nbclient 0.10.4 with jupyter_client 7.4.9 can miss the wake-up for a message already waiting
    on the shell socket (jupyter/nbclient#312, cells that open widgets): its wait then lasts the whole cell
    timeout although the kernel replied long before (06 waited 900 s in its widget cell). A poll that times
    out checks the socket itself, so no message waits longer than one slice.
    """
    async def get(timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = step if deadline is None else min(step, max(0.0, deadline - time.monotonic()))
            try:
                return await get_msg(timeout=left)
            except Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise
    return get


def cell_name(index: int, n_cells: int, source: str) -> str:
    """How a progress report names cell ``index`` of the run: the chapter's own numbering (markdown cells
    included), or one of the two cells this runner adds before and after the chapter."""
    if index == 0:
        return "the extra cell before the chapter"
    if index == n_cells - 1:
        return "the extra cell after the chapter"
    return f"cell {index - 1} of the notebook ({(source.splitlines() or [''])[0][:80]!r})"


def main(nb_path: str, url: str, out: str, cell_timeout: str) -> None:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(nb_path, as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "code")
    assert "colab-setup" in cell.metadata.get("tags", []), "the first code cell is not the Colab setup cell"
    cell.source, n = CELL_URL.subn(url + "@main", cell.source)
    assert n == 1, f"the setup cell names {n} git URLs, expected 1"
    # Record what the kernel imported before the chapter (IPython's own imports, google.colab), and the
    # kernel's process id, so that the caller can stop a kernel that outlives this runner ...
    nb.cells.insert(0, nbformat.v4.new_code_cell(
        "import sys as _s, os as _o\n_preloaded = set(_s.modules)\nopen(%r, 'w').write(str(_o.getpid()))" % (out + ".pid")))
    # ... and, at the end, the distributions that own each module the chapter imported since.
    nb.cells.append(nbformat.v4.new_code_cell(
        "import json as _j, importlib.metadata as _m, resource as _r, dlext as _d\n"
        "_cpu = [_r.getrusage(w) for w in (_r.RUSAGE_SELF, _r.RUSAGE_CHILDREN)]  # the kernel, and the cell's pip\n"
        "_owners = _m.packages_distributions()\n"
        "_new = [m.split('.')[0] for m in list(_s.modules) if m not in _preloaded]\n"
        "_dists = sorted({d for m in _new for d in _owners.get(m, [])})\n"
        "_j.dump({'dists': _dists, 'dlext': _d.__file__, 'colab': 'google.colab' in _preloaded, 'prefix': _s.prefix,"
        " 'kernel_cpu_s': sum(u.ru_utime + u.ru_stime for u in _cpu)},"
        " open(%r, 'w'))" % out))

    def started(cell, cell_index, **_):
        where = cell_name(cell_index, len(nb.cells), cell.source)
        with open(out + ".progress", "w") as f:
            json.dump({"where": where, "at": time.time()}, f)

    def patch_channels(**_):
        for channel in (client.kc.shell_channel, client.kc.iopub_channel):
            channel.get_msg = sliced(channel.get_msg)

    client = NotebookClient(nb, timeout=int(cell_timeout), kernel_name="python3", on_cell_start=started,
                            on_notebook_start=patch_channels)
    client.execute()


if __name__ == "__main__":
    main(*sys.argv[1:5])
