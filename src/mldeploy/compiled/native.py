"""The tree walker's kernels in C, built once per machine with its C compiler and called through ctypes.

They take the steps of the numba kernels (``_walk_kernel.py``, ``_bitvector_kernel.py``) on the
same checked arrays and give the same bits, at the same speed, but start in milliseconds:
importing numba and loading its cached kernels cost a fresh process 0.6 s. The library is
built the first time a walker needs it, into a cache keyed by the source, the compiler and
the flags, and reused after. Where no compiler works, :func:`native_kernels` returns None
and the walker uses numba. ``MLDEPLOY_NATIVE=0`` turns the C kernels off;
``MLDEPLOY_NATIVE_CACHE`` names the cache folder (default ``~/.cache/mldeploy/native``).
These are settings of the machine, not of a call, like numba's ``NUMBA_CACHE_DIR``: they
are read here, where the kernels load, and the cache is this module's own I/O, as numba's is.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import itertools
import logging
import os
import platform
import shlex
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["FLAGS", "NativeKernels", "library_path", "native_kernels"]

SOURCE = Path(__file__).with_name("_native_kernels.c")
_MACHINES = {"x86_64": "-march=native", "amd64": "-march=native", "aarch64": "-mcpu=native", "arm64": "-mcpu=native"}
"""Where the kernels are built, and how to target the processor. 64-bit only (and a 64-bit Python): 32-bit x86
may add in x87's 80-bit registers, and the sums would no longer be numba's to the bit."""
FLAGS = ("-O3", "-shared", "-fPIC", "-ffp-contract=off", "-fno-fast-math",
         *[flag for flag in [_MACHINES.get(platform.machine().lower())] if flag])
"""No contraction into fused multiply-adds and no reordering: each score is its leaves summed in tree order.
The processor's own vector instructions (as numba uses) make the bit-vector kernel 10% quicker; the
build is keyed by the processor too (see :func:`library_path`), so a shared cache never runs one elsewhere."""
_BUILD_TIMEOUT_S = 120
_log = logging.getLogger(__name__)

_P, _I = ctypes.c_void_p, ctypes.c_int64


class WalkModel(ctypes.Structure):
    """A forest's records, as ``walk_model_t`` in the C source."""

    _fields_ = [("nodes", _P), ("values", _P), ("width", _I), ("trees", _P), ("n_trees", _I),
                ("block_rows", _I), ("nan_routes", _I)]


class BitvectorModel(ctypes.Structure):
    """A bit-vector layout, as ``bitvector_model_t`` in the C source."""

    _fields_ = [("used", _P), ("n_used", _I), ("thresholds", _P), ("threshold_starts", _P), ("mask_starts", _P),
                ("masks", _P), ("clears", _P), ("full", _P), ("n_trees", _I), ("word_bits", _I),
                ("leaf_starts", _P), ("values", _P), ("width", _I), ("targets", _P)]


def _address(array: np.ndarray) -> int:
    return array.__array_interface__["data"][0]


_VIEW = ctypes.c_char * 0
_MAX_ROWS = 2**30
"""Rows per kernel call: counts go to C as ``int`` (see :class:`_Scorer`)."""


def _pointer(array: np.ndarray):
    """What ctypes passes as the array's data pointer: a view of its buffer (0.2 µs against 0.9 for the address)."""
    try:
        return _VIEW.from_buffer(array)
    except TypeError:  # a read-only array
        return ctypes.c_void_p(_address(array))


class _Scorer:
    """Call one C kernel on one model: ``scorer(bases, out)`` adds every tree's leaf values to ``out``.

    The kernel's argument types are left undeclared: declared, ctypes spent 0.5 µs of a one-row call
    checking them. Pointers go as buffer views, counts as Python ints, which ctypes passes as C ``int``
    and would silently cut to 32 bits: rows go in calls of at most 2**30, and the walker keeps base
    values and targets below 2**30 (see :class:`~mldeploy.compiled.walker.TreeWalker`).
    """

    def __init__(self, function, model: ctypes.Structure, keep: tuple) -> None:
        self._function = function
        self._model = ctypes.byref(model)
        self._keep = (model, keep)  # the arrays the structure points into live as long as the scorer

    def __call__(self, bases: np.ndarray, out: np.ndarray) -> None:
        """``bases`` [rows, n_bases] and ``out`` [rows, n_targets]: C-contiguous float64, checked by the walker."""
        rows = len(bases)
        if rows > _MAX_ROWS:
            for start in range(0, rows, _MAX_ROWS):
                self(bases[start:start + _MAX_ROWS], out[start:start + _MAX_ROWS])
            return
        if self._function(self._model, _pointer(bases), rows, bases.shape[1], _pointer(out), out.shape[1]):
            raise MemoryError("the tree kernel could not allocate its working memory")


class NativeKernels:
    """The loaded library's kernels, with numpy arrays in and out."""

    def __init__(self, library: ctypes.CDLL, path: Path) -> None:
        self.path = path
        """The shared library in use."""
        self._preorder = library.mldeploy_preorder
        self._preorder.argtypes = [_P, _P, _P, _I, _P, _I, _P]
        self._preorder.restype = _I
        self._walk = library.mldeploy_walk  # int (model *, double *, int, int, double *, int): see _Scorer
        self._score = library.mldeploy_score
        self.vector_lanes = int(library.mldeploy_vector_lanes())
        """Rows the walk can step side by side in AVX-512 vectors; 0 where the processor lacks them."""
        self._use_vectors = library.mldeploy_use_vectors
        self.vectors = bool(library.mldeploy_choose_walk())
        """Whether walks of 64 rows or more take the vectors: both walks are timed here, the quicker kept."""
        if self.vector_lanes:
            _log.info("tree walk: %s (timed on this processor)", "AVX-512 vectors" if self.vectors else "scalar lanes")

    def use_vectors(self, on: bool) -> bool:
        """Make walks of 64 rows or more take the vectors (where built) or not, for the whole process; both reach
        the same leaves. Returns whether they now do. Tests use it; the load has chosen the quicker already."""
        self.vectors = bool(self._use_vectors(int(on)))
        return self.vectors

    def preorder(self, flat: np.ndarray, splits: np.ndarray, roots: np.ndarray, nodes: np.ndarray) -> tuple[np.ndarray, int]:
        """Lay checked trees out depth first in ``nodes``, as ``_walk_kernel.preorder``: (new roots, records used)."""
        flat, splits, roots = (np.ascontiguousarray(a, dtype=t) for a, t in ((flat, np.int32), (splits, np.float64),
                                                                            (roots, np.int64)))
        out_roots = np.empty(len(roots), np.int64)
        used = self._preorder(_address(flat), _address(splits), _address(roots), len(roots), _address(nodes),
                              len(nodes), _address(out_roots))
        if used < 0:
            raise ValueError("walk arrays: the trees do not fit their records") if used == -1 else MemoryError()
        return out_roots, int(used)

    def walker(self, nodes: np.ndarray, values: np.ndarray, trees: np.ndarray, block_rows: int, nan_routes: bool) -> _Scorer:
        """Return a scorer that walks depth-first records (``_walk_kernel.NODE``), as ``_walk_kernel.walk``."""
        model = WalkModel(_address(nodes), _address(values), values.shape[1], _address(trees), len(trees),
                          block_rows, int(nan_routes))
        return _Scorer(self._walk, model, (nodes, values, trees))

    def bitvector_scorer(self, layout) -> _Scorer:
        """Return a scorer for a :class:`~mldeploy.compiled.bitvectors.BitvectorLayout`, as ``_bitvector_kernel.score``."""
        arrays = (layout.used, layout.thresholds, layout.threshold_starts, layout.mask_starts, layout.masks,
                  layout.clears, layout.full, layout.leaf_starts, layout.values, layout.targets)
        if not all(a.flags.c_contiguous for a in arrays):
            raise ValueError("bit vectors: the layout's arrays must be C-contiguous")
        model = BitvectorModel(_address(layout.used), len(layout.used), _address(layout.thresholds),
                               _address(layout.threshold_starts), _address(layout.mask_starts), _address(layout.masks),
                               _address(layout.clears), _address(layout.full), layout.masks.shape[1],
                               layout.masks.dtype.itemsize * 8, _address(layout.leaf_starts), _address(layout.values),
                               layout.values.shape[1], _address(layout.targets))
        return _Scorer(self._score, model, arrays)


@functools.cache
def native_kernels() -> NativeKernels | None:
    """Return the C kernels, building them on this machine's first use; None where they cannot be built or are off."""
    if os.environ.get("MLDEPLOY_NATIVE", "1") == "0":
        return None
    if platform.machine().lower() not in _MACHINES or struct.calcsize("P") != 8:
        _log.info("no C tree kernels on %s (64-bit x86 and ARM only): trees are walked by numba", platform.machine())
        return None
    try:
        return _load()
    except Exception as exc:  # whatever stops the build or the load, numba still walks the trees
        _log.warning("the C tree kernels could not be built or loaded (%s: %s); trees are walked by numba. Set "
                     "MLDEPLOY_NATIVE_CACHE to a writable folder or CC to a working compiler, or MLDEPLOY_NATIVE=0 "
                     "to use numba without trying", type(exc).__name__, exc)
        return None


def _load() -> NativeKernels | None:
    path = library_path()
    if path is None:
        _log.info("no C compiler found (set CC to name one): trees are walked by numba")
        return None
    if not _private(path.parent, missing=True):  # a folder yet to be made is made private
        _log.warning("%s can be changed by other users, so no library is loaded from it; trees are walked by numba. "
                     "Set MLDEPLOY_NATIVE_CACHE to a folder only you can write to", path.parent)
        return None
    if not _private(path, missing=False):
        _build(path)
    return NativeKernels(ctypes.CDLL(str(path)), path)


def library_path() -> Path | None:
    """Where this machine's build of the kernels lives (it may not exist yet); None without a C compiler."""
    compiler = _compiler()
    if compiler is None:
        return None
    executable = Path(shutil.which(compiler[0]) or compiler[0]).resolve()
    stat = executable.stat()
    key = hashlib.sha256(b"\0".join(part.encode() for part in (
        SOURCE.read_text(), *compiler, str(executable), str(stat.st_size), str(stat.st_mtime_ns), *FLAGS,
        platform.machine(), sys.platform, _processor()))).hexdigest()[:20]
    return _cache_folder() / f"tree-kernels-{key}{_suffix()}"


def _processor() -> str:
    """The processor's model and features, which ``-march=native`` builds for."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            return "".join(line for line in itertools.islice(info, 64) if line.startswith(("model name", "flags", "Features")))
    except OSError:
        return platform.processor()


def _compiler() -> list[str] | None:
    named = shlex.split(os.environ.get("CC", ""))
    if named:
        return named if shutil.which(named[0]) else None
    found = next((shutil.which(name) for name in ("cc", "gcc", "clang") if shutil.which(name)), None)
    return [found] if found else None


def _cache_folder() -> Path:
    named = os.environ.get("MLDEPLOY_NATIVE_CACHE")
    if named:
        return Path(named)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mldeploy" / "native"


def _suffix() -> str:
    return ".dll" if sys.platform == "win32" else ".dylib" if sys.platform == "darwin" else ".so"


def _private(path: Path, missing: bool) -> bool:
    """Whether ``path`` is this user's and no one else can change it; ``missing`` is the answer where it does not exist."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return missing
    owner_ok = not hasattr(os, "getuid") or stat.st_uid == os.getuid()
    return owner_ok and not stat.st_mode & 0o022


def _build(path: Path) -> None:
    """Compile the source to ``path``: into a private temporary file first, then renamed, so a reader never sees half."""
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    handle, temporary = tempfile.mkstemp(prefix=".building-", suffix=path.suffix, dir=folder)
    os.close(handle)
    try:
        command = [*_compiler(), *FLAGS, "-o", temporary, str(SOURCE)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=_BUILD_TIMEOUT_S, check=False)
        if done.returncode != 0:
            raise OSError(f"{shlex.join(command)} failed: {done.stderr.strip()[-500:]}")
        os.chmod(temporary, 0o755)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    _log.info("built the C tree kernels at %s", path)
