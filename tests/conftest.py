"""Fixtures: answer sets, renders cached per test session, git identity.

Under pytest-xdist every worker is its own session, so each worker renders (and installs) only
the answer sets of the tests it runs; nothing is shared between workers through the disk.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import (
    ANSWER_SETS,
    DEFAULT_ANSWERS,
    GIT_IDENTITY,
    REPO_ROOT,
    AnswerSet,
    InstalledProject,
    InstallFn,
    Rendered,
    RenderFn,
    git_commit_all,
    install_project,
    render,
)


@pytest.fixture(scope="session", autouse=True)
def _git_identity() -> Iterator[None]:
    """Copier commits uncommitted template changes in its clone, which needs a git identity."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in GIT_IDENTITY.items():
            patch.setenv(name, value)
        yield


@pytest.fixture(scope="session", autouse=True)
def _projects_share_the_cores() -> Iterator[None]:
    """Give the projects a worker runs its share of the cores for OpenMP and BLAS threads.

    scikit-learn's gradient boosting starts a thread per core in each fit and prediction. With
    two workers on two cores the other core is always busy, and such a team keeps waiting for
    its descheduled thread: a fit of the default training data took 1.3-1.7 s instead of 0.7 s,
    spinning on the other worker's core meanwhile. An OMP_NUM_THREADS set by the caller wins.
    """
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    with pytest.MonkeyPatch.context() as patch:
        if workers > 1 and "OMP_NUM_THREADS" not in os.environ:
            patch.setenv("OMP_NUM_THREADS", str(max(1, (cores or 1) // workers)))
        yield


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def render_answers(tmp_path_factory: pytest.TempPathFactory) -> RenderFn:
    """Render an answer set once per session; later calls return the same directory.

    The renders are shared by many tests and must stay pristine: tests only read them. A test
    that needs to change files or run tools that write renders its own copy.
    """
    cache: dict[str, Rendered] = {}

    def get(answer_set: AnswerSet) -> Rendered:
        if answer_set.id not in cache:
            dst = tmp_path_factory.mktemp(f"render-{answer_set.id}") / "project"
            cache[answer_set.id] = render(dst, answer_set.data)
        return cache[answer_set.id]

    return get


@pytest.fixture(params=ANSWER_SETS, ids=[a.id for a in ANSWER_SETS])
def answer_set(request: pytest.FixtureRequest) -> AnswerSet:
    """Each answer set in turn (the test runs once per set)."""
    return request.param


@pytest.fixture
def rendered(answer_set: AnswerSet, render_answers: RenderFn) -> Rendered:
    """The session's render of the current answer set (read-only)."""
    return render_answers(answer_set)


@pytest.fixture
def default_render(render_answers: RenderFn) -> Rendered:
    """The session's render with every default answer (read-only)."""
    return render_answers(DEFAULT_ANSWERS)


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> InstallFn:
    """Render, commit and install a project per answer set, once per worker session.

    Its own render, not the shared read-only one: installing and running write into the project.
    Tests that use it carry their answer set's `on_its_worker` mark, so that one install serves
    them all.
    """
    cache: dict[str, InstalledProject] = {}
    failures: dict[str, str] = {}  # a failed setup is reported once per test, not retried

    def get(answer_set: AnswerSet) -> InstalledProject:
        if answer_set.id in failures:
            pytest.fail(f"setting up the project failed earlier:\n{failures[answer_set.id]}")
        if answer_set.id not in cache:
            dst = tmp_path_factory.mktemp(f"project-{answer_set.id}") / "project"
            try:
                rendered = render(dst, answer_set.data)
                git_commit_all(dst, "Start from the template")
                cache[answer_set.id] = install_project(rendered)
            except (RuntimeError, ValueError) as exc:
                failures[answer_set.id] = str(exc)
                raise
        return cache[answer_set.id]

    return get
