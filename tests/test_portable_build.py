"""The installed llama.cpp is portable: no instruction that some supported x86-64 CPUs (or hosts) forbid.

A build tuned to the build machine (``-march=native``) on a CPU that reports AVX-512 or AMX
puts those instructions in ``libggml-cpu.so``; on a host that forbids them (a VM that does
not let a process use AMX tiles, an older CPU) the first matrix multiply crashes. The
Makefile builds for AVX2/FMA/F16C; this test reads the machine code to be sure.
"""

from __future__ import annotations

import platform
import re
import shutil
import subprocess
from pathlib import Path

import pytest

# AMX tile instructions (ldtilecfg/sttilecfg, tdpb*/tdpf*, tileload*, tilezero) and any use of the
# 512-bit AVX-512 registers.
FORBIDDEN = re.compile(r"\b(?:ldtilecfg|sttilecfg|tdpb\w*|tdpf\w*|tileload\w*|tilezero|tilerelease)\b|%zmm\d")


def _libraries() -> list[Path]:
    llama_cpp = pytest.importorskip("llama_cpp", reason="needs the local extra: pip install -e '.[local]'")
    libs = sorted(Path(llama_cpp.__file__).parent.glob("lib/libggml*.so*"))
    assert libs, "llama_cpp ships no libggml libraries where expected"
    return libs


@pytest.mark.skipif(platform.machine() != "x86_64", reason="the instruction check is for x86-64 builds")
def test_the_cpu_library_holds_no_avx512_or_amx_instruction() -> None:
    objdump = shutil.which("objdump")
    if objdump is None:
        pytest.skip("objdump (binutils) is not installed")
    libs = _libraries()
    assert any(p.name.startswith("libggml-cpu") for p in libs)
    for lib in libs:
        code = subprocess.run(
            [objdump, "-d", "--no-show-raw-insn", str(lib)], capture_output=True, text=True, check=True
        ).stdout
        assert len(code) > 1000, f"objdump read no code from {lib}"
        found = sorted(set(FORBIDDEN.findall(code)))
        assert not found, (
            f"{lib.name} uses {', '.join(found[:8])}: llama-cpp-python was built for this machine's CPU, "
            "not portably; rebuild it with 'make clean install' (without LLAMA_NATIVE=1)"
        )


def test_the_pattern_catches_what_a_native_build_contains() -> None:
    # lines as objdump prints them from a -march=native build on an AVX-512/AMX machine
    assert FORBIDDEN.search("  4f2a10:\tldtilecfg (%rax)")
    assert FORBIDDEN.search("  4f2a20:\ttdpbssd %tmm2,%tmm1,%tmm0")
    assert FORBIDDEN.search("  4f2a30:\tvpaddd %zmm1,%zmm2,%zmm3")
    assert not FORBIDDEN.search("  4f2a40:\tvfmadd231ps %ymm1,%ymm2,%ymm0")
