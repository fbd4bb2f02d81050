"""Which inference precision this machine runs fastest: fp32, bf16 or int8.

`torch.backends.cpu.get_cpu_capability()` only names the widest vector ISA torch dispatches to ("AVX512"
on a Zen 4 and on a Skylake-SP alike), so it cannot tell whether bf16 or int8 have native instructions.
This module reads the individual CPU feature flags instead.

Importing it is cheap: stdlib only. torch is imported inside the functions that ask it something.
"""

from __future__ import annotations

import functools
import importlib.util
import sys
from collections.abc import Iterable

PRECISIONS = ("auto", "fp32", "bf16", "int8")

# int8 dynamic quantisation of the Linear layers is allowed only for BERT-family encoders: there it keeps
# validation macro-F1 within 0.2 points but costs ~2 on real text (dev_real); on mpnet it destroys accuracy.
INT8_VALIDATED = ("bert",)

# Flag -> readable name, best first: the first one present names the reason.
# x86 names are /proc/cpuinfo's (and torch.cpu.get_capabilities()'s); "bf16", "i8mm", "asimddp" are ARM's.
_BF16_FLAGS = {"amx_bf16": "AMX-BF16", "avx512_bf16": "AVX512-BF16", "bf16": "Arm BF16"}
_INT8_FLAGS = {
    "amx_int8": "AMX-INT8",
    "avx512_vnni": "AVX512-VNNI",
    "avx_vnni": "AVX-VNNI",
    "i8mm": "Arm I8MM",
    "asimddp": "Arm dot product",
}

_CPUINFO = "/proc/cpuinfo"


def cpu_flags(cpuinfo: str | None = None) -> frozenset[str]:
    """The CPU feature flags: from `cpuinfo` (the text of a /proc/cpuinfo) or, when None, this machine's.

    Empty where they cannot be known (not Linux, /proc/cpuinfo unreadable).
    """
    if cpuinfo is None:
        return _proc_cpu_flags()
    return _parse_cpuinfo(cpuinfo)


@functools.lru_cache(maxsize=1)
def _proc_cpu_flags() -> frozenset[str]:
    if not sys.platform.startswith("linux"):
        return frozenset()
    try:
        with open(_CPUINFO, encoding="utf-8", errors="replace") as f:
            return _parse_cpuinfo(f.read())
    except OSError:
        return frozenset()


def _parse_cpuinfo(text: str) -> frozenset[str]:
    # One "flags" (x86) or "Features" (ARM) line per logical CPU. Keep only the flags every CPU has:
    # the process may be scheduled on any of them.
    common: set[str] | None = None
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep or key.strip().lower() not in ("flags", "features"):
            continue
        flags = set(value.lower().split())
        common = flags if common is None else common & flags
    return frozenset(common or ())


def native_bf16(flags: Iterable[str] | None = None, cuda: bool | None = None) -> bool:
    """Whether bf16 autocast beats fp32 here: a CUDA GPU, or a CPU with bf16 dot-product instructions.

    `flags=None` means this machine's; `cuda=None` asks torch.
    """
    if _cuda(cuda):
        return True
    return _first(_BF16_FLAGS, _flags(flags)) is not None


def native_int8(flags: Iterable[str] | None = None) -> bool:
    """Whether the CPU has int8 dot-product instructions (VNNI, AMX-INT8, Arm dot product / I8MM),
    which is what makes dynamically quantised Linear layers faster than fp32."""
    return _first(_INT8_FLAGS, _flags(flags)) is not None


def choose_precision(
    requested: str, model_type: str, flags: Iterable[str] | None = None, cuda: bool | None = None
) -> tuple[str, str]:
    """The precision to run at, and why in one short phrase ("" when there is nothing to say).

    An explicit request is honoured as it is; only bf16 without native support gets a warning as reason.
    "auto" picks the fastest precision that keeps accuracy on real text: bf16 on a CUDA GPU or where the CPU
    has native bf16, otherwise fp32. Never int8 (about 2 macro-F1 points lost on dev_real).
    Never prints: the caller decides what to show.
    """
    if requested not in PRECISIONS:
        raise ValueError(f"unknown precision {requested!r}: expected one of {', '.join(PRECISIONS)}")
    model_type = (model_type or "").lower()
    cpu = _flags(flags)
    on_cuda = _cuda(cuda)

    if requested != "auto":
        if requested == "bf16" and not native_bf16(cpu, on_cuda):
            return requested, "this CPU has no native bf16 (no AVX512-BF16/AMX): bf16 will be slower than fp32"
        return requested, ""

    if on_cuda:
        return "bf16", "auto: bf16 (CUDA GPU)"

    # int8 is never chosen here: on the real-text dev set it loses about 2 macro-F1 points on the default model
    # (0.677 -> 0.655), where bf16 loses none (docs/benchmarks.md); it stays available when asked for.
    bf16_isa = _first(_BF16_FLAGS, cpu)
    if bf16_isa:
        return "bf16", f"auto: bf16 ({bf16_isa})"
    if _first(_INT8_FLAGS, cpu) and model_type in INT8_VALIDATED:
        return "fp32", "auto: fp32 (no native bf16 on this CPU; int8 is faster but costs ~2 macro-F1 points)"
    return "fp32", "auto: fp32 (no native bf16 on this CPU)"


def _first(names: dict[str, str], flags: frozenset[str]) -> str | None:
    return next((label for flag, label in names.items() if flag in flags), None)


def _flags(flags: Iterable[str] | None) -> frozenset[str]:
    if flags is not None:  # given flags are taken as they are: tests and callers describe another CPU
        return frozenset(f.lower() for f in flags)
    return cpu_flags() | _torch_cpu_flags()


def _torch_cpu_flags() -> frozenset[str]:
    """Flags from torch.cpu.get_capabilities() (cpuinfo, one entry per feature; torch 2.13 has it), if present.

    A second source beside /proc/cpuinfo, and the only one on macOS and Windows. Not used:
    torch.ops.mkldnn._is_mkldnn_bf16_supported(), which is True on any AVX512BW/VL/DQ CPU (oneDNN can
    *run* bf16 there, by conversion), e.g. Skylake-SP, where bf16 is slower than fp32.
    """
    torch = _torch()
    get = getattr(getattr(torch, "cpu", None), "get_capabilities", None)
    if get is None:
        return frozenset()
    try:
        caps = dict(get())
    except Exception:  # a torch build without it, or cpuinfo failing: /proc/cpuinfo still answers
        return frozenset()
    aliases = {"dot": "asimddp"}  # cpuinfo's name for the ARM dot product
    return frozenset(aliases.get(k, k) for k, v in caps.items() if v is True)


def _cuda(cuda: bool | None) -> bool:
    if cuda is not None:
        return cuda
    torch = _torch()
    try:
        return bool(torch is not None and torch.cuda.is_available())
    except Exception:
        return False


def _torch():
    """torch, imported on first need (the caller is about to run a torch model anyway), or None if absent."""
    torch = sys.modules.get("torch")
    if torch is not None:
        return torch
    if importlib.util.find_spec("torch") is None:
        return None
    try:
        import torch
    except Exception:  # a broken install: answer from /proc/cpuinfo alone
        return None
    return torch
