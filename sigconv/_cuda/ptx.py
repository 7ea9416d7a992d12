"""Compile every CUDA kernel of ``sigconv._cuda`` to PTX for real targets, without a GPU.

The simulator runs kernels as Python, so it accepts code that NVVM rejects (unsupported numpy
calls, type unification failures, shared arrays of non-constant shape ...). This command catches
those in CI: ``python -m sigconv._cuda.ptx`` compiles each registered kernel for every declared
signature (float32 and float64) for compute capabilities 8.0 and 9.0, prints what it compiled and
exits non-zero naming each kernel that failed.

Registry: every kernel module of ``sigconv._cuda`` declares, in one place, a module-level list

    PTX_SIGNATURES = [(kernel, ["void(float32[::1], ...)", "void(float64[::1], ...)"]), ...]

where ``kernel`` is the ``numba.cuda.jit`` dispatcher. Modules are discovered with ``pkgutil``;
a module without ``PTX_SIGNATURES`` (helpers) contributes nothing.

``--resources`` also assembles each sm_90 module to machine code with ``ptxas`` (through
nvJitLink, which the ``cuda`` extra installs; still no GPU needed) and prints what each kernel
costs a streaming multiprocessor: registers per thread, local-memory stack, spill bytes and the
warps per SM the register file allows. Occupancy is the first thing a slow kernel loses, and it
can be read here on any machine; spilled float32 registers are reported as failures.

``compile_ptx`` is not available in Numba's CUDA simulator; when ``NUMBA_ENABLE_CUDASIM`` is set
this command re-runs itself in a child process with the variable removed.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import re
import subprocess
import sys
import time

DEFAULT_CC = ((8, 0), (9, 0))
# A PTX instruction computing in float64 (register names like %fd1 do not match).
_F64_OP = re.compile(r"\b[a-z]+(?:\.[a-z0-9]+)*\.f64\b")
_SKIP = {"ptx"}


def _simulator_requested() -> bool:
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")


def kernel_modules() -> list[str]:
    """Names of the modules of ``sigconv._cuda`` that may hold kernels."""
    import sigconv._cuda as pkg

    return sorted(
        f"{pkg.__name__}.{info.name}"
        for info in pkgutil.iter_modules(pkg.__path__)
        if info.name not in _SKIP
    )


def registered_kernels() -> tuple[list[tuple[str, object, list[str]]], list[tuple[str, str]]]:
    """``([(qualified name, dispatcher, signatures)], [(module, import error)])``."""
    kernels, errors = [], []
    for modname in kernel_modules():
        try:
            mod = importlib.import_module(modname)
        except Exception as exc:  # a module that does not import is a failure to report
            errors.append((modname, f"{type(exc).__name__}: {exc}"))
            continue
        for kernel, sigs in getattr(mod, "PTX_SIGNATURES", ()):
            py_func = getattr(kernel, "py_func", kernel)
            kernels.append((f"{modname}.{py_func.__name__}", kernel, list(sigs)))
    return kernels, errors


def ptx_problem(sig: str, target: str, ptx: str) -> str | None:
    """What is wrong with compiled ``ptx`` for ``sig`` and ``target``, or None."""
    if f".target {target}" not in ptx:
        return f"PTX does not declare .target {target}"
    m = _F64_OP.search(ptx)
    if "float32" in sig and "float64" not in sig and m:
        # A float64 literal or helper promoted float32 math: 2x (H100) to 64x (consumer GPUs)
        # slower. Kernels must stay in their compute dtype.
        return f"float64 arithmetic ({m.group(0)}) in float32 code"
    return None


#: Register file of one SM (32-bit registers) and the most warps it runs, sm_80 and sm_90 alike.
SM_REGISTERS = 65536
SM_MAX_WARPS = 64
_LOG_REGS = re.compile(r"Used (\d+) registers")
_LOG_STACK = re.compile(
    r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads"
)


def warps_per_sm(registers: int) -> int:
    """Warps an SM can hold when each thread needs ``registers`` registers.

    Registers are handed to warps in units of 256 (8 per thread), so 65 registers cost as much
    as 72; the hardware caps an SM at 64 warps (2048 threads).
    """
    per_warp = -(-max(1, registers) * 32 // 256) * 256
    return min(SM_MAX_WARPS, SM_REGISTERS // per_warp)


def parse_ptxas_log(log: str) -> dict:
    """``{registers, stack, spill_stores, spill_loads}`` from ``ptxas -v`` output of one kernel."""
    regs, stack = _LOG_REGS.search(log), _LOG_STACK.search(log)
    if regs is None or stack is None:
        raise ValueError(f"no register report in the ptxas log: {log[-300:]!r}")
    st, ss, sl = (int(v) for v in stack.groups())
    return {"registers": int(regs.group(1)), "stack": st, "spill_stores": ss, "spill_loads": sl}


def assemble(ptx: str, arch: str = "sm_90") -> dict:
    """Assemble ``ptx`` with ptxas through nvJitLink; the kernel's resources (see above)."""
    from cuda.bindings import nvjitlink

    opts = [f"-arch={arch}", "-Xptxas=-v"]
    handle = nvjitlink.create(len(opts), opts)
    try:
        data = ptx.encode()
        nvjitlink.add_data(handle, nvjitlink.InputType.PTX, data, len(data), "kernel")
        try:
            nvjitlink.complete(handle)
        finally:
            log = bytearray(nvjitlink.get_info_log_size(handle))
            nvjitlink.get_info_log(handle, log)
        return parse_ptxas_log(log.decode(errors="replace"))
    finally:
        nvjitlink.destroy(handle)


def _dtype_of(sig: str) -> str:
    return "float64" if "float64" in sig and "float32" not in sig else "float32"


def compile_all(
    ccs=DEFAULT_CC,
    *,
    verbose: bool = True,
    out_dir: str | None = None,
    resources: bool = False,
) -> int:
    """Compile every registered kernel for each ``cc``; return the number of failures.

    With ``resources``, assemble each sm_90 module too and print the resource table.
    """
    from numba import cuda

    kernels, failures = registered_kernels()
    for modname, err in failures:
        print(f"FAILED import {modname}: {err}")
    n_ok = 0
    table = []
    for name, kernel, sigs in kernels:
        py_func = getattr(kernel, "py_func", kernel)
        for sig in sigs:
            for cc in ccs:
                target = f"sm_{cc[0]}{cc[1]}"
                t0 = time.perf_counter()
                try:
                    ptx, _ = cuda.compile_ptx(py_func, sig, cc=cc)
                except Exception as exc:  # report every failing kernel, not just the first
                    failures.append((name, sig))
                    first = str(exc).strip().splitlines()
                    print(f"FAILED {name} {sig} {target}: {type(exc).__name__}: {first[:1]}")
                    continue
                problem = ptx_problem(sig, target, ptx)
                if problem:
                    failures.append((name, sig))
                    print(f"FAILED {name} {sig} {target}: {problem}")
                    continue
                if resources and target == "sm_90":
                    try:
                        res = assemble(ptx, target)
                    except Exception as exc:  # ptxas rejecting NVVM's output is a failure
                        failures.append((name, sig))
                        print(f"FAILED {name} {sig} {target}: ptxas: {exc}")
                        continue
                    if res["spill_stores"] and _dtype_of(sig) == "float32":
                        failures.append((name, sig))
                        print(f"FAILED {name} {sig} {target}: spills {res['spill_stores']} bytes")
                    table.append((name, _dtype_of(sig), res))
                n_ok += 1
                if out_dir:
                    os.makedirs(out_dir, exist_ok=True)
                    idx = sigs.index(sig)
                    path = os.path.join(out_dir, f"{name}.{idx}.{target}.ptx")
                    with open(path, "w") as fh:
                        fh.write(ptx)
                if verbose:
                    dt = time.perf_counter() - t0
                    print(f"ok {name} {sig} {target} ({len(ptx)} chars, {dt:.2f} s)")
    if table:
        print(resource_table(table))
    n_sigs = sum(len(s) for _, _, s in kernels)
    print(
        f"compiled {n_ok} PTX modules: {len(kernels)} kernels, {n_sigs} signatures, "
        f"targets {', '.join(f'sm_{a}{b}' for a, b in ccs)}; {len(failures)} failures"
    )
    return len(failures)


def resource_table(rows) -> str:
    """Markdown table of ``(kernel, dtype, resources)`` rows (first signature of each dtype)."""
    lines = [
        "| kernel | dtype | registers | warps/SM (register limit) | stack B | spill st/ld B |",
        "|---|---|---:|---:|---:|---:|",
    ]
    seen = set()
    for name, dtype, r in rows:
        if (name, dtype) in seen:
            continue
        seen.add((name, dtype))
        lines.append(
            f"| {name.removeprefix('sigconv._cuda.')} | {dtype} | {r['registers']} | "
            f"{warps_per_sm(r['registers'])} | {r['stack']} | "
            f"{r['spill_stores']}/{r['spill_loads']} |"
        )
    return "\n".join(lines)


def _parse_cc(text: str) -> tuple[int, int]:
    major, _, minor = text.partition(".")
    return int(major), int(minor or 0)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sigconv._cuda.ptx", description=__doc__)
    parser.add_argument(
        "--cc", nargs="+", type=_parse_cc, default=list(DEFAULT_CC), help="e.g. 8.0 9.0"
    )
    parser.add_argument("--quiet", action="store_true", help="print failures and the summary")
    parser.add_argument("--out", default=None, help="write each PTX module to this folder")
    parser.add_argument(
        "--resources",
        action="store_true",
        help="assemble the sm_90 modules with ptxas; print registers, stack and spills",
    )
    args = parser.parse_args(argv)
    if _simulator_requested():
        # compile_ptx needs the real CUDA target, which NUMBA_ENABLE_CUDASIM replaces.
        print("NUMBA_ENABLE_CUDASIM is set; re-running without it (compile_ptx needs NVVM)")
        env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
        cmd = [sys.executable, "-m", "sigconv._cuda.ptx", *(argv or sys.argv[1:])]
        return subprocess.call(cmd, env=env)
    try:
        from numba import cuda  # noqa: F401
    except ImportError as exc:
        print(f"FAILED: numba.cuda cannot be imported ({exc}); pip install sigconv[cuda]")
        return 1
    return (
        1
        if compile_all(args.cc, verbose=not args.quiet, out_dir=args.out, resources=args.resources)
        else 0
    )


if __name__ == "__main__":
    sys.exit(main())
