"""A simulated fresh Google Colab (tools/colab_sim.py): the Colab list, dlext's bounds, and a real run.

The slow test builds (or reuses) ``~/.cache/dlext-colab/venv`` holding Colab's preinstalled packages at the
versions of ``colab/colab-packages.txt`` (googlecolab/backend-info pip-freeze.txt, 2026-08-19), runs
this commit's rotating chapter there with its setup cell taking the Colab branch and pip-installing
dlext from a ``git+file://`` clone of this checkout, data through a loopback mirror. It fails if
that install changes a Colab package, or the chapter fails or imports what neither Colab nor the cell
provides. ``python tools/colab_sim.py --all`` runs every chapter the same way.

Deviations from the real Colab: Python 3.11 here, 3.13 there; torch 2.13.0+cpu (this machine's local
wheel) instead of Colab's 2.11.0+cpu (on download.pytorch.org, unreachable here; PyPI's 2.11.0 for
Linux is a 530 MB CUDA build needing GBs of nvidia wheels), and with it setuptools 77.0.3 instead of
75.2.0; jedi and overrides installed although Colab's list lacks them (ipython 7.34 and, below
Python 3.12, jupyter_server require them); and of Colab's ~650 packages only those the chapters and
dlext use, with their dependencies at Colab's versions.
"""
import json
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import colab_sim  # noqa: E402

# The versions issue 11 quotes from Colab's list of August 2026: a check that the file parses right.
QUOTED = {"torch": "2.11.0+cpu", "numpy": "2.1.3", "scipy": "1.16.3", "scikit-learn": "1.6.1",
          "matplotlib": "3.10.0", "ipywidgets": "7.7.1", "ipykernel": "6.17.1", "nbformat": "5.11.1",
          "nbclient": "0.10.4", "tqdm": "4.67.3", "pooch": "1.9.0", "pandas": "2.2.3"}


def test_colab_list_states_source_and_date_and_parses():
    header = colab_sim.COLAB_LIST.read_text().split("---- pip-freeze.txt below ----")[0]
    assert "github.com/googlecolab/backend-info" in header and "2026-08-19" in header
    assert "Python 3.13" in header and "Python 3.11" in header  # the deviation is stated
    versions = colab_sim.colab_versions()
    assert {name: versions[name] for name in QUOTED} == QUOTED
    assert len(versions) > 600


def test_every_preinstalled_package_is_in_the_colab_list():
    versions = colab_sim.colab_versions()
    for name in colab_sim.PREINSTALLED:
        assert colab_sim.canonical(name) in versions, name
    # a deviation is either a preinstalled package at another version, or a dependency of one, every
    # one of them a package Colab has
    assert all(colab_sim.canonical(name) in versions for name in colab_sim.DEVIATIONS)


# Dependencies Colab lacks, added by the setup cell without touching anything Colab has (the simulation
# checks that): each with its reason.
NOT_ON_COLAB = {"jupyterquiz": "the chapters' quizzes; pure Python, no dependencies",
                "gensim": "the word2vec chapter's reference implementation (the dlext[word2vec] extra)",
                "pytest": "grading only (the dlext[grade] extra); Colab has it anyway"}


def test_dlext_bounds_admit_every_colab_version():
    """pip must find every dependency Colab has already satisfied, so installing dlext upgrades nothing."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = project["dependencies"] + [d for extra in project.get("optional-dependencies", {}).values() for d in extra]
    versions = colab_sim.colab_versions()
    for dep in map(Requirement, deps):
        name = colab_sim.canonical(dep.name)
        if name == "dlext":  # an extra made of other extras (course = grade + explain + word2vec): checked there
            continue
        if name not in versions:
            assert name in NOT_ON_COLAB, f"dlext needs {name}, which Colab does not preinstall: say why in NOT_ON_COLAB"
            continue
        assert dep.specifier.contains(versions[name], prereleases=True), \
            f"pyproject.toml asks for {dep}, Colab has {name} {versions[name]}"
    assert any(Requirement(d).name == "ipywidgets" and not Requirement(d).specifier.contains("7.6.5") for d in deps)


def test_rotating_chapters_cycle_through_the_toc():
    chapters = colab_sim.toc_chapters()
    assert len(chapters) >= 2 and all(p.suffix == ".ipynb" and p.is_file() for p in chapters)
    picks = [colab_sim.rotating_chapters(1, commit_count=c)[0] for c in range(len(chapters))]
    assert sorted(picks) == sorted(chapters), "every chapter gets its turn"
    assert colab_sim.rotating_chapters(1, commit_count=7) == colab_sim.rotating_chapters(1, commit_count=7 + len(chapters))
    assert colab_sim.rotating_chapters(2, commit_count=0) == chapters[:2]
    assert colab_sim.rotating_chapters() == colab_sim.rotating_chapters()  # deterministic for a commit
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="n must be a positive int"):
            colab_sim.rotating_chapters(bad)


def test_colab_versions_parses_pins_and_urls(tmp_path):
    listing = tmp_path / "freeze.txt"
    listing.write_text("# a comment\nScikit_Learn==1.6.1\n"
                       "torch @ https://download.pytorch.org/whl/cpu/torch-2.11.0%2Bcpu-cp313-cp313-manylinux.whl\n"
                       "google-colab @ file:///colabtools/dist/google_colab-1.0.0.tar.gz\n"
                       "kg @ git+https://github.com/googlecolab/kernel_gateway@b134e99\n")
    assert colab_sim.colab_versions(listing) == {"scikit-learn": "1.6.1", "torch": "2.11.0+cpu",
                                                 "google-colab": "1.0.0", "kg": ""}


@pytest.mark.notebook
@pytest.mark.timeout(3600)
def test_installing_dlext_that_needs_ipywidgets_8_would_be_caught(tmp_path):
    """The check has teeth: a dlext asking for ipywidgets>=8 (as it once did) would upgrade Colab's 7.7.1."""
    clone = colab_sim.clone_checkout(tmp_path / "repo")
    pyproject = clone / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"ipywidgets>=7.7"', '"ipywidgets>=8"'))
    subprocess.run(["git", "-C", str(clone), "-c", "user.name=t", "-c", "user.email=t@localhost",
                    "commit", "-qam", "ipywidgets>=8"], check=True)
    with colab_sim.venv_lock():
        venv_dir = colab_sim.build_venv()
        plan = colab_sim.planned_changes(venv_dir, f"dlext @ git+file://{clone}@main")
    assert plan["ipywidgets"][0] == "7.7.1" and plan["ipywidgets"][1].startswith("8.")
    assert set(plan) - {"dlext"}, plan


@pytest.mark.notebook
@pytest.mark.timeout(3600)  # a first build of the venv takes minutes, then the chapter runs
def test_rotating_chapter_runs_in_a_simulated_fresh_colab(shared_data):
    """This commit's rotating chapter (or $COLAB_SIM_CHAPTERS), top to bottom, installed and fed as on a fresh Colab."""
    results = colab_sim.simulate(colab_sim.selected_chapters(), data=shared_data)
    print(json.dumps(results, indent=1))
    for result in results:
        assert result["problems"] == [], f"{result['chapter']}:\n" + "\n\n".join(result["problems"])
        # dlext installed; packages Colab lacks may be added (e.g. jupyterquiz), none of Colab's changed
        assert "dlext" in result["added"] and result["changed"] == {}
        assert not set(result["added"]) & set(colab_sim.colab_versions()) - {"dlext"}
        # Every file the chapter asked the mirror for is now in its fresh cache, verified by dlext.data.
        assert sorted("dlext" + r for r in result["mirror_requests"]) == result["downloaded"]


def test_the_colab_venv_lives_outside_the_data_cache(monkeypatch):
    """On a machine without ../shared the tests use dlext's data cache and check that nothing in it changes;
    the simulated Colab's venv, built during that run, must not be inside it (it once was)."""
    from dlext import data

    monkeypatch.delenv("DLEXT_DATA_DIR", raising=False)
    cache = data.data_dir().resolve()
    venv = colab_sim.VENV_DIR.resolve()
    assert cache != venv and cache not in venv.parents, (cache, venv)


def test_a_stuck_step_fails_with_its_name_instead_of_hanging():
    """A pip (or any) command past its limit is killed and the error names the step."""
    with pytest.raises(RuntimeError, match=r"the sleeping step did not finish within 1 s"):
        colab_sim._run([sys.executable, "-c", "import time; time.sleep(60)"], "the sleeping step", timeout=1)


def test_a_stopped_chapter_names_the_cell_it_was_in(tmp_path):
    progress = tmp_path / "imports.json.progress"
    assert "no cell had started" in colab_sim._where(progress)
    progress.write_text(json.dumps({"where": "cell 7 of the notebook ('vae = train_vae(model)')", "at": time.time() - 42}))
    assert colab_sim._where(progress) == "cell 7 of the notebook ('vae = train_vae(model)') had been running for 42 s"
    import colab_runner  # the runner's names: the chapter's own numbers, and its two extra cells

    assert colab_runner.cell_name(8, 40, "vae = train_vae(model)\nplt.show()") == "cell 7 of the notebook ('vae = train_vae(model)')"
    assert colab_runner.cell_name(0, 40, "import sys as _s") == "the extra cell before the chapter"
    assert colab_runner.cell_name(39, 40, "import json as _j") == "the extra cell after the chapter"


def test_a_kernel_that_outlives_its_runner_is_killed(tmp_path, monkeypatch):
    """The runner's kernel is started in a session of its own; one left running is found by its pid and killed."""
    monkeypatch.setattr(colab_sim, "KERNEL_GRACE", 1)
    pid_file = tmp_path / "kernel.pid"
    assert colab_sim._stop_kernel(pid_file) is None  # the kernel never started
    # A stand-in kernel: "ipykernel" in its command line, in a session of its own, as jupyter_client starts one.
    kernel = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "ipykernel_launcher"],
                              start_new_session=True)
    pid_file.write_text(str(kernel.pid))  # the real kernel writes it from inside, so long after its exec
    deadline = time.monotonic() + 10
    while b"ipykernel" not in Path(f"/proc/{kernel.pid}/cmdline").read_bytes() and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        message = colab_sim._stop_kernel(pid_file)
        assert message is not None and f"pid {kernel.pid}" in message and "killed" in message
        assert kernel.wait(timeout=10) == -9
    finally:
        kernel.kill()
    done = subprocess.Popen([sys.executable, "-c", "pass", "ipykernel_launcher"])
    done.wait()
    pid_file.write_text(str(done.pid))
    assert colab_sim._stop_kernel(pid_file) is None  # it had exited: nothing to say, nothing killed


def test_a_missed_wake_up_costs_at_most_one_slice_not_the_cell_timeout():
    """The runner's fix for jupyter/nbclient#312: a poll that misses the wake-up returns only when it times out."""
    import asyncio
    from queue import Empty

    import colab_runner

    waits = []

    async def missed_wake_up(timeout=None):  # the reply is there, but the poll only sees it when its timeout ends
        waits.append(timeout)
        await asyncio.sleep(timeout)
        return {"msg_type": "execute_reply"}

    start = time.monotonic()
    assert asyncio.run(colab_runner.sliced(missed_wake_up, step=0.2)(timeout=900)) == {"msg_type": "execute_reply"}
    assert time.monotonic() - start < 5 and waits == [0.2]  # unsliced, this call would have taken 900 s

    async def nothing(timeout=None):  # no message ever comes: Empty, at the caller's deadline and not before
        await asyncio.sleep(timeout)
        raise Empty

    start = time.monotonic()
    with pytest.raises(Empty):
        asyncio.run(colab_runner.sliced(nothing, step=0.2)(timeout=1.0))
    assert 1.0 <= time.monotonic() - start < 3
