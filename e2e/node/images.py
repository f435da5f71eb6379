"""Build the node's images with buildah, once per content: base, pause, runner, operator.

No public registry is reachable here, so everything a pod runs is made locally:

* **base** — a Debian root filesystem (``mmdebstrap``, minbase) with Python 3.11 and a
  venv at ``/usr/local``, so ``/usr/local/bin/python`` and its ``site-packages`` are
  where the official ``python:3.11-slim`` has them. Our Dockerfiles take it as
  their ``PYTHON_IMAGE`` build argument; their default stays the public image.
* **builder** — the base plus a C compiler and Python's headers: the runner image's
  build stage (its ``BUILD_IMAGE``), which compiles the log pipeline's C loops; the
  runner image itself stays without a compiler.
* **pause** — the sandbox image: ``pause.c`` compiled static, in an image ``from scratch``.
* **runner** and **operator** — ``buildah bud`` of ``runner-image/Dockerfile`` and
  ``Dockerfile``, unchanged from what users build.

Each image is saved as a docker-archive under ``~/.cache/kuberun/images/``, named by a
hash of everything that goes into it (the recipe, the Dockerfile, the files it
copies, the base's own hash), so a warm start reuses every archive and any change
rebuilds just the images it touches. :func:`import_all` loads the archives into a
node's containerd.

Called by ``python -m e2e.cluster build|up`` and by the e2e session fixtures.
"""

from __future__ import annotations

import dataclasses
import fcntl
import functools
import hashlib
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence

from e2e.cluster import binaries

REPO = pathlib.Path(__file__).resolve().parents[2]
PAUSE_SOURCE = pathlib.Path(__file__).resolve().parent / "pause.c"
REGISTRY = "kuberun.local"

#: What the base image holds; changing it changes the base's key (and every image's).
BASE_SUITE = "bookworm"
BASE_MIRROR = os.environ.get("KUBERUN_DEBIAN_MIRROR", "http://deb.debian.org/debian")
BASE_PACKAGES = ("python3.11", "python3.11-venv", "ca-certificates")
#: What the builder adds to the base (see `_speedups.c`).
BUILD_PACKAGES = ("gcc", "libc6-dev", "python3.11-dev")
#: Documentation and translations are of no use in a container and are a third of its size.
BASE_EXCLUDES = (
    "/usr/share/doc/*",
    "/usr/share/man/*",
    "/usr/share/locale/*",
    "/usr/share/info/*",
)
BASE_RECIPE = "1"


class ImageError(RuntimeError):
    """An image could not be built; the message carries the tool's output."""


@dataclasses.dataclass(frozen=True)
class Image:
    """One built image: its reference in containerd and its archive on disk."""

    name: str
    ref: str
    archive: pathlib.Path

    @property
    def size_bytes(self) -> int:
        return self.archive.stat().st_size


@dataclasses.dataclass(frozen=True)
class ImageSet:
    """The four images a node needs, and the builder of the runner's."""

    pause: Image
    base: Image
    builder: Image
    runner: Image
    operator: Image

    def all(self) -> tuple[Image, ...]:
        """What a node imports (the builder is only ever a build stage)."""
        return (self.pause, self.base, self.runner, self.operator)

    def built(self) -> tuple[Image, ...]:
        """Everything built and kept as an archive, in the order they are built."""
        return (self.pause, self.base, self.builder, self.runner, self.operator)


def images_dir() -> pathlib.Path:
    return binaries.cache_root() / "images"


def _storage_args() -> list[str]:
    """buildah's storage, private to kuberun: nothing else on the machine is touched."""
    root = binaries.cache_root() / "containers"
    return [
        "--root",
        str(root / "storage"),
        # Run-time state belongs on tmpfs; it is rebuilt after a reboot.
        "--runroot",
        "/run/kuberun/buildah",
        "--storage-driver",
        "overlay",
    ]


def _run(argv: Sequence[str], *, what: str, cwd: pathlib.Path | None = None) -> str:
    result = subprocess.run(list(argv), cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        tail = (result.stdout + result.stderr)[-4000:]
        raise ImageError(f"{what} failed ({' '.join(argv[:3])} ...):\n{tail}")
    return result.stdout


def _buildah(*args: str, what: str, cwd: pathlib.Path | None = None) -> str:
    tool = shutil.which("buildah")
    if tool is None:
        raise ImageError("buildah is not installed (apt-get install buildah): see e2e/README.md")
    return _run([tool, *_storage_args(), *args], what=what, cwd=cwd).strip()


def _digest(parts: Iterable[bytes]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()[:16]


def _tree_files(*roots: str) -> list[pathlib.Path]:
    files: list[pathlib.Path] = []
    for root in roots:
        path = REPO / root
        if path.is_file():
            files.append(path)
            continue
        files.extend(
            p
            for p in sorted(path.rglob("*"))
            # not what a local build left: bytecode, the C extension built in place
            if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".so")
        )
    return files


def _files_digest(files: Iterable[pathlib.Path]) -> list[bytes]:
    return [str(p.relative_to(REPO)).encode() + b"\0" + p.read_bytes() for p in files]


def _base_recipe() -> list[str]:
    return [
        BASE_RECIPE,
        BASE_SUITE,
        BASE_MIRROR,
        *BASE_PACKAGES,
        *BASE_EXCLUDES,
    ]


def base_key() -> str:
    return _digest(s.encode() for s in _base_recipe())


def builder_key() -> str:
    return _digest(s.encode() for s in (*_base_recipe(), *BUILD_PACKAGES))


def pause_key() -> str:
    return _digest([PAUSE_SOURCE.read_bytes()])


#: The files each Dockerfile copies, beside the Dockerfile itself.
RUNNER_INPUTS = (
    "runner-image/Dockerfile",
    "pyproject.toml",
    "setup.py",
    "README.md",
    "images/runner.lock",
    "runner-image/kuberun",
)
OPERATOR_INPUTS = (
    "Dockerfile",
    "pyproject.toml",
    "README.md",
    "images/operator.lock",
    "runner-image/kuberun",
    "operator/kuberun_operator",
)


def app_key(inputs: Sequence[str], *bases: str) -> str:
    keys = [base_key(), *bases]
    return _digest([*(k.encode() for k in keys), *_files_digest(_tree_files(*inputs))])


@functools.cache
def planned() -> ImageSet:
    """Where each image will be (or is): names and archives, from the keys alone.

    Computed once per process, so a test session keeps to the images it built at
    its start even if the tree changes under it.
    """
    root = images_dir()

    def image(name: str, key: str) -> Image:
        return Image(name=name, ref=f"{REGISTRY}/{name}:{key}", archive=root / f"{name}-{key}.tar")

    return ImageSet(
        pause=image("pause", pause_key()),
        base=image("python", base_key()),
        builder=image("pybuild", builder_key()),
        runner=image("runner", app_key(RUNNER_INPUTS, builder_key())),
        operator=image("operator", app_key(OPERATOR_INPUTS)),
    )


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _save(ref: str, archive: pathlib.Path) -> None:
    """Push ``ref`` to a docker-archive, written beside and renamed into place."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    partial = archive.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    _buildah("push", "--quiet", ref, f"docker-archive:{partial}:{ref}", what=f"saving {ref}")
    partial.replace(archive)


def _has_local(ref: str) -> bool:
    tool = shutil.which("buildah") or "buildah"
    result = subprocess.run(
        [tool, *_storage_args(), "inspect", "--type", "image", ref],
        capture_output=True,
        text=True,
    )
    return result.returncode == 0


def _commit_scratch(image: Image, add: list[str], config: list[str]) -> None:
    """An image ``from scratch``: one buildah add/copy (``{container}`` marks where
    the container goes), its config, committed as ``image.ref``."""
    container = _buildah("from", "scratch", what="a scratch container")
    try:
        _buildah(
            *(container if a == "{container}" else a for a in add), what=f"filling {image.ref}"
        )
        _buildah("config", *config, container, what=f"configuring {image.ref}")
        _buildah("commit", "--quiet", container, image.ref, what=f"committing {image.ref}")
    finally:
        _buildah("rm", container, what="removing the build container")


def _build_base(image: Image, extra: Sequence[str] = ()) -> None:
    tool = shutil.which("mmdebstrap")
    if tool is None:
        raise ImageError("mmdebstrap is not installed (apt-get install mmdebstrap)")
    with tempfile.TemporaryDirectory(prefix="kuberun-base-") as tmp:
        rootfs = pathlib.Path(tmp) / "rootfs.tar"
        argv = [
            tool,
            "--variant=minbase",
            f"--include={','.join((*BASE_PACKAGES, *extra))}",
            *(f"--dpkgopt=path-exclude={p}" for p in BASE_EXCLUDES),
            # The official image's layout: the interpreter and packages under /usr/local.
            '--customize-hook=chroot "$1" python3.11 -m venv /usr/local',
            BASE_SUITE,
            str(rootfs),
            BASE_MIRROR,
        ]
        _run(argv, what="mmdebstrap of the base image")
        _commit_scratch(
            image,
            ["add", "--quiet", "{container}", str(rootfs), "/"],
            [
                "--env",
                "PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin",
                "--env",
                "LANG=C.UTF-8",
                "--cmd",
                "python3",
            ],
        )


def _ensure_base(image: Image, extra: Sequence[str] = ()) -> None:
    """A base in buildah's storage: already there, loaded from its archive, or built."""
    if _has_local(image.ref):
        return
    if image.archive.exists():
        _buildah("pull", "--quiet", f"docker-archive:{image.archive}", what="loading the base")
        return
    _build_base(image, extra)


def _build_pause(image: Image) -> None:
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        raise ImageError("a C compiler (gcc) is needed for the pause image")
    with tempfile.TemporaryDirectory(prefix="kuberun-pause-") as tmp:
        program = pathlib.Path(tmp) / "pause"
        _run(
            [compiler, "-static", "-Os", "-s", "-o", str(program), str(PAUSE_SOURCE)],
            what="compiling pause",
        )
        _commit_scratch(
            image,
            ["copy", "--quiet", "{container}", str(program), "/pause"],
            ["--entrypoint", '["/pause"]', "--user", "65535:65535"],
        )


def _build_dockerfile(
    image: Image, dockerfile: str, base: Image, builder: Image | None = None
) -> None:
    """``buildah bud`` of our Dockerfile, with the locally made base as PYTHON_IMAGE
    (and the builder as BUILD_IMAGE, for the runner's).

    ``pip`` inside ``RUN`` needs the network and this machine's pip configuration
    and CA bundle; they are bind-mounted read-only for the build only, so
    nothing of the machine ends up in the image.
    """
    mounts: list[str] = []
    for path in ("/etc/ssl/certs/ca-certificates.crt", "/etc/pip.conf"):
        if os.path.exists(path):
            mounts += ["--volume", f"{path}:{path}:ro"]
    _buildah(
        "bud",
        "--quiet",
        "--pull=never",
        "--layers",
        "--network",
        "host",
        *mounts,
        "--build-arg",
        f"PYTHON_IMAGE={base.ref}",
        *(["--build-arg", f"BUILD_IMAGE={builder.ref}"] if builder is not None else []),
        "--file",
        dockerfile,
        "--tag",
        image.ref,
        ".",
        what=f"building {dockerfile}",
        cwd=REPO,
    )


def ensure_built(*, log: bool = True) -> ImageSet:
    """Every image's archive, building the missing ones (serialised by a file lock)."""
    wanted = planned()
    if all(i.archive.exists() for i in wanted.built()):
        return wanted
    images_dir().mkdir(parents=True, exist_ok=True)
    with open(images_dir() / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for image in wanted.built():
            if image.archive.exists():
                continue
            started = time.monotonic()
            if log:
                _log(f"building image {image.ref}")
            if image is wanted.base:
                _ensure_base(image)
            elif image is wanted.builder:
                _ensure_base(image, BUILD_PACKAGES)
            elif image is wanted.pause:
                _build_pause(image)
            elif image is wanted.runner:
                _ensure_base(wanted.base)
                _ensure_base(wanted.builder, BUILD_PACKAGES)
                _build_dockerfile(image, "runner-image/Dockerfile", wanted.base, wanted.builder)
            else:
                _ensure_base(wanted.base)
                _build_dockerfile(image, "Dockerfile", wanted.base)
            _save(image.ref, image.archive)
            if log:
                size = image.size_bytes / 2**20
                _log(f"built {image.ref} in {time.monotonic() - started:.0f}s ({size:.0f} MiB)")
    _prune(wanted)
    return wanted


#: Archives kept per image besides the current one: a checkout and CI's fresh clone of
#: another commit then do not rebuild each other's images.
KEEP_OLDER = 2


def _prune(keep: ImageSet) -> None:
    """Delete all but the newest older archives of each image, so the cache stays bounded."""
    for image in keep.built():
        older = sorted(
            (a for a in images_dir().glob(f"{image.name}-*.tar") if a != image.archive),
            key=lambda a: a.stat().st_mtime,
            reverse=True,
        )
        for archive in older[KEEP_OLDER:]:
            archive.unlink(missing_ok=True)
